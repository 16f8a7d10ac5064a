"""radiomics-ssl-inspect: the pictures show the encoder's own input; warnings; a report despite bad cases."""
import csv

import numpy as np
import pytest

from helpers import PARAMS, make_untrained_weights, run
from radiomics_ssl.cases import crop_to_roi, load_case
from radiomics_ssl.config import Contract
from radiomics_ssl.datasets import cohort_rows
from radiomics_ssl.extract.batch import build_case_extractor, extract_case
from radiomics_ssl.inspect import checks, pictures
from radiomics_ssl.preprocess import prepare_roi

PET = dict(modality="PET", intensity="fixed", window=(0.0, 30.0), spacing_mm=4.0, large_roi="crop")
CT = dict(modality="CT", intensity="fixed", window=(-200.0, 300.0), spacing_mm=2.0, large_roi="crop")


@pytest.fixture(scope="module")
def pet_weights(tmp_path_factory):
  return make_untrained_weights(tmp_path_factory.mktemp("pet") / "pet.safetensors", box=16, **PET)


def test_the_picture_shows_the_array_the_encoder_receives(shared_data, pet_weights, tmp_path):
  """The per-case step's box (what the encoder stage encodes) is prepare_roi's, and the PNG's three
  planes are that array's mid-slices, on the encoder's [0, 255] scale."""
  extractor, ssl = build_case_extractor(str(PARAMS / "ssl_only.yaml"), {"sslWeights": pet_weights})
  for row in cohort_rows(shared_data, "sts-pet")[:2] + cohort_rows(shared_data, "pyradiomics")[:1]:
    result = extract_case((1, row, extractor, None))
    assert result.error is None, result.error
    (image_type, received), = result.rois
    expected = prepare_roi(*crop_to_roi(*load_case(row["Image"], row["Mask"])), 1, extractor.contract)
    np.testing.assert_array_equal(received.boxes, expected.boxes)
    np.testing.assert_array_equal(received.rois, expected.rois)
    figure = pictures.case_figure(received, extractor.contract, row["ID"])
    shown = [axis.images[0].get_array() for axis in figure.axes[:3]]
    for plane, image in zip(pictures.mid_slices(expected.boxes[pictures.shown_tile(expected)]), shown):
      np.testing.assert_array_equal(np.asarray(image), plane)
    assert all(image.get_clim() == (0, 255) for axis in figure.axes[:3] for image in axis.images)
    pictures.save(figure, tmp_path / f"{row['ID']}.png")
    assert (tmp_path / f"{row['ID']}.png").stat().st_size > 5000


def test_a_wrong_modality_pairing_raises_its_warning(shared_data):
  lung = cohort_rows(shared_data, "pyradiomics-ct")[0]
  sarcoma_pet = cohort_rows(shared_data, "sts-pet")[0]

  def warnings(row, contract):
    prepared = prepare_roi(*crop_to_roi(*load_case(row["Image"], row["Mask"])), 1, contract)
    return checks.case_warnings(prepared, contract)

  on_ct = warnings(lung, Contract(box=16, **PET))
  assert any("expect PET images, but the ROI's values look like HU (CT)" in w for w in on_ct), on_ct
  on_pet = warnings(sarcoma_pet, Contract(box=16, **CT))
  assert any("expect CT images, but the ROI's values look like SUV (PET)" in w for w in on_pet), on_pet
  assert not any("expect" in w for w in warnings(sarcoma_pet, Contract(box=16, **PET)))
  assert not any("expect" in w for w in warnings(lung, Contract(box=16, **CT)))


def test_the_report_covers_the_good_cases_and_names_the_failed_ones(shared_data, pet_weights, tmp_path):
  rows = cohort_rows(shared_data, "sts-pet")[:5]
  rows.append(dict(rows[0], ID="missing", Image=str(tmp_path / "absent.nii.gz")))
  with open(tmp_path / "cases.csv", "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  out = tmp_path / "report"
  result = run("radiomics-ssl-inspect", tmp_path / "cases.csv", "--param", PARAMS / "ssl.yaml", "--setting",
               f"sslWeights:{pet_weights}", "--out", out, "--labels", shared_data / "sts" / "labels.csv",
               "--label-column", "grade_high", "--label-id-column", "patient_id")
  assert result.returncode == 1, result.stderr[-3000:]  # a failed case makes the exit code 1
  assert f"5 extracted, 1 failed, 2 warned. Report: {out / 'index.html'}" in result.stdout
  assert "INFO" not in result.stderr  # pyradiomics' per-case steps stay out of the console
  page = (out / "index.html").read_text()
  labels = {row["patient_id"]: row["grade_high"] for row in csv.DictReader(open(shared_data / "sts" / "labels.csv"))}
  for row in rows[:5]:  # each case's row carries its label, joined from --labels
    assert f"{row['ID']}</a></td><td>{labels[row['ID']]}</td>" in page
  assert "absent.nii.gz: image file does not exist" in page and "5 extracted, 1 failed" in page
  assert sorted(p.name for p in (out / "cases").iterdir()) == [f"{i}_{row['ID']}.png" for i, row in enumerate(rows[:5], 1)]
  for name in ("contact_sheet.png", "ssl_map.png", "classical_map.png", "ssl_x_classical.png"):
    assert (out / name).stat().st_size > 5000 and f"src='{name}'" in page
  assert len(list(csv.DictReader(open(out / "features.csv")))) == 5
