"""Random sub-volumes of whole scans as training cases, on pyradiomics' two lung CTs."""
import csv

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import run
from radiomics_ssl.cases import read_batch_csv
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


def centre_and_extent(mask_path):
  """The centre voxel (x, y, z) of a written cube mask, its extent in mm, and the mask."""
  mask = sitk.ReadImage(mask_path)
  stats = sitk.LabelShapeStatisticsImageFilter()
  stats.Execute(mask)
  assert stats.GetLabels() == (1,)
  extent = np.array(stats.GetBoundingBox(1)[3:]) * np.array(mask.GetSpacing())
  return mask.TransformPhysicalPointToIndex(stats.GetCentroid(1)), extent, mask


def test_centres_lie_in_range_inside_the_scan_and_apart_and_cubes_have_their_size(scans, tmp_path):
  path, rows, empty = write_subvolumes(scans, tmp_path, per_scan=20, value_range=LUNG_HU, size_mm=(4, 20), seed=0,
                                       spacing_mm=40.0)
  assert not empty and len(rows) == 40 and len({row["ID"] for row in rows}) == len({row["Mask"] for row in rows}) == 40
  for image_path in sorted({row["Image"] for row in rows}):
    image = sitk.ReadImage(image_path)
    spacing, size = np.array(image.GetSpacing()), np.array(image.GetSize())
    points = []
    for row in (row for row in rows if row["Image"] == image_path):
      index, extent, _ = centre_and_extent(row["Mask"])
      assert LUNG_HU[0] <= image[index] <= LUNG_HU[1], (row["ID"], index, image[index])
      assert np.all(np.array(index) * spacing >= 16) and np.all((size - 1 - np.array(index)) * spacing >= 16)
      assert np.all(extent >= np.minimum(4, spacing)) and np.all(extent <= 20 + spacing), (row["ID"], extent)
      points.append(np.array(image.TransformIndexToPhysicalPoint(index)))
    distances = [np.linalg.norm(a - b) for i, a in enumerate(points) for b in points[i + 1:]]
    assert min(distances) >= 40


def test_the_draw_replays_from_its_seed_and_changes_with_it(scans, tmp_path):
  draws = [write_subvolumes(scans, tmp_path / name, per_scan=4, value_range=LUNG_HU, size_mm=(4, 20), seed=seed)[1]
           for name, seed in (("a", 0), ("b", 0), ("c", 1))]
  arrays = [[sitk.GetArrayFromImage(sitk.ReadImage(row["Mask"])) for row in rows] for rows in draws]
  assert all(np.array_equal(a, b) for a, b in zip(arrays[0], arrays[1]))
  assert not any(np.array_equal(a, c) for a, c in zip(arrays[0], arrays[2]))


def test_rows_go_through_the_training_loader_as_boxes_of_their_cube(scans, tmp_path):
  """The shared loader centres a box on each sub-volume; it holds the cube's scan (as many voxels as the
  cube's volume, within resampling's blur), and under a lung window that is aerated lung (dark)."""
  path, rows, _ = write_subvolumes(scans, tmp_path, per_scan=3, value_range=LUNG_HU, size_mm=(16, 16), seed=0)
  size = region_size(LUNG.box, TrainConfig().augment.context)
  boxes, summary = load_training_boxes(path, LUNG, str(tmp_path / "cache"), size=size)
  assert summary["n_cases"] == 6 and not summary["skipped"]
  assert len({box.tobytes() for box in boxes}) == 6
  lung_high = (LUNG_HU[1] + 1000) / 1400 * 255  # -500 HU under the -1000..400 window
  for row, box in zip(rows, boxes):
    cube_voxels = np.prod(centre_and_extent(row["Mask"])[1]) / LUNG.spacing_mm ** 3
    assert 0.5 * cube_voxels < np.count_nonzero(box) < 2 * cube_voxels, (row["ID"], np.count_nonzero(box), cube_voxels)
    assert np.median(box[box > 0]) < lung_high


def test_cli_writes_the_csv_and_names_scans_without_voxels_in_range(scans, tmp_path):
  result = run("radiomics-ssl-subvolumes", scans, "--out", tmp_path / "sv", "--per-scan", "2", "--range", "-950", "-500", "--size", "4", "20")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(tmp_path / "sv" / "subvolumes.csv", newline="") as stream:
    assert len(list(csv.DictReader(stream))) == 4
  nothing = run("radiomics-ssl-subvolumes", scans, "--out", tmp_path / "none", "--per-scan", "2", "--range", "5000", "6000", "--size", "4", "20")
  assert nothing.returncode == 1 and "no sub-volume drawn" in nothing.stderr
  assert "lung1_image.nrrd: no voxel in" in nothing.stderr and "lung2_image.nrrd: no voxel in" in nothing.stderr


def test_an_unreadable_scan_is_named(scans, tmp_path):
  broken = tmp_path / "broken.nrrd"
  broken.write_bytes(b"NRRD0004\nnot an image\n")
  rows = read_batch_csv(scans)
  bad_csv = write_batch_csv(tmp_path / "bad.csv", rows + [dict(rows[0], ID="broken", Image=str(broken))])
  result = run("radiomics-ssl-subvolumes", bad_csv, "--out", tmp_path / "sv", "--per-scan", "2", "--range", "-950", "-500", "--size", "4", "20")
  assert result.returncode == 1 and f"{broken}: cannot read image" in result.stderr
