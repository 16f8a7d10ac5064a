"""Random sub-volumes of whole scans as training cases, on pyradiomics' two lung CTs."""
import csv

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import run
from radiomics_ssl.config import Contract, TrainConfig
from radiomics_ssl.datasets import cohort_rows, write_batch_csv
from radiomics_ssl.train.augment import region_size
from radiomics_ssl.train.data import load_training_boxes
from radiomics_ssl.train.subvolumes import write_subvolumes

LUNG_HU = (-950.0, -500.0)
LUNG = Contract.for_modality("CT", box=16, spacing_mm=2.0, window=(-1000.0, 400.0))


@pytest.fixture(scope="module")
def scans(shared_data, tmp_path_factory):
  return write_batch_csv(tmp_path_factory.mktemp("scans") / "lungs.csv", cohort_rows(shared_data, "pyradiomics-ct"))


def centres_of(mask_path):
  """{label: centre voxel (x, y, z)} of a written marker map, and the map itself."""
  mask = sitk.ReadImage(mask_path)
  stats = sitk.LabelShapeStatisticsImageFilter()
  stats.Execute(mask)
  return {label: mask.TransformPhysicalPointToIndex(stats.GetCentroid(label)) for label in stats.GetLabels()}, mask


def test_centres_lie_in_range_inside_the_scan_and_apart(scans, tmp_path):
  path, rows, empty = write_subvolumes(scans, tmp_path, per_scan=20, value_range=LUNG_HU, seed=0, spacing_mm=40.0)
  assert not empty and len(rows) == 40 and len({row["ID"] for row in rows}) == 40
  for mask_path in sorted({row["Mask"] for row in rows}):
    centres, mask = centres_of(mask_path)
    image = sitk.ReadImage(next(row["Image"] for row in rows if row["Mask"] == mask_path))
    assert sorted(centres) == list(range(1, 21))
    spacing, size = np.array(image.GetSpacing()), np.array(image.GetSize())
    points = []
    for index in centres.values():
      assert LUNG_HU[0] <= image[index] <= LUNG_HU[1], (mask_path, index, image[index])
      assert np.all(np.array(index) * spacing >= 16 - spacing) and np.all((size - 1 - np.array(index)) * spacing >= 16 - spacing)
      points.append(np.array(image.TransformIndexToPhysicalPoint(index)))
    distances = [np.linalg.norm(a - b) for i, a in enumerate(points) for b in points[i + 1:]]
    assert min(distances) >= 40 - spacing.max()


def test_the_draw_replays_from_its_seed_and_changes_with_it(scans, tmp_path):
  first = write_subvolumes(scans, tmp_path / "a", per_scan=4, value_range=LUNG_HU, seed=0)[1]
  again = write_subvolumes(scans, tmp_path / "b", per_scan=4, value_range=LUNG_HU, seed=0)[1]
  other = write_subvolumes(scans, tmp_path / "c", per_scan=4, value_range=LUNG_HU, seed=1)[1]
  arrays = [[sitk.GetArrayFromImage(sitk.ReadImage(row["Mask"])) for row in rows[::4]] for rows in (first, again, other)]
  assert all(np.array_equal(a, b) for a, b in zip(arrays[0], arrays[1]))
  assert not any(np.array_equal(a, c) for a, c in zip(arrays[0], arrays[2]))


def test_rows_go_through_the_training_loader_as_lung_boxes(scans, tmp_path):
  """The shared loader centres a distinct box on each sub-volume, and under a lung window they are
  mostly aerated lung (dark), as the range asked."""
  path = write_subvolumes(scans, tmp_path, per_scan=3, value_range=LUNG_HU, seed=0)[0]
  size = region_size(LUNG.box, TrainConfig().augment.context)
  boxes, summary = load_training_boxes(path, LUNG, str(tmp_path / "cache"), size=size)
  assert summary["n_cases"] == 6 and not summary["skipped"]
  assert len({box.tobytes() for box in boxes}) == 6
  middle = boxes[:, size // 2 - 2:size // 2 + 2, size // 2 - 2:size // 2 + 2, size // 2 - 2:size // 2 + 2]
  lung_high = (LUNG_HU[1] + 1000) / 1400 * 255  # -500 HU under the -1000..400 window
  assert np.all(np.median(middle.reshape(6, -1), axis=1) < lung_high)


def test_cli_writes_the_csv_and_names_scans_without_voxels_in_range(scans, tmp_path):
  result = run("radiomics-ssl-subvolumes", scans, "--out", tmp_path / "sv", "--per-scan", "2", "--range", "-950", "-500")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(tmp_path / "sv" / "subvolumes.csv", newline="") as stream:
    assert len(list(csv.DictReader(stream))) == 4
  nothing = run("radiomics-ssl-subvolumes", scans, "--out", tmp_path / "none", "--per-scan", "2", "--range", "5000", "6000")
  assert nothing.returncode == 1 and "no sub-volume drawn" in nothing.stderr
  assert "lung1_image.nrrd: no voxel in" in nothing.stderr and "lung2_image.nrrd: no voxel in" in nothing.stderr


def test_an_unreadable_scan_is_named(scans, tmp_path):
  broken = tmp_path / "broken.nrrd"
  broken.write_bytes(b"NRRD0004\nnot an image\n")
  with open(scans, newline="") as stream:
    rows = list(csv.DictReader(stream))
  rows.append(dict(rows[0], ID="broken", Image=str(broken)))
  bad_csv = tmp_path / "bad.csv"
  with open(bad_csv, "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  result = run("radiomics-ssl-subvolumes", bad_csv, "--out", tmp_path / "sv", "--per-scan", "2", "--range", "-950", "-500")
  assert result.returncode == 1 and f"{broken}: cannot read image" in result.stderr
