"""Weights run on images of another modality, and the command line's messages and exit codes:
one line per problem, by case ID, with the right exit code."""
import pytest
import yaml
from radiomics.featureextractor import RadiomicsFeatureExtractor

from helpers import PARAMS, read_rows, run, write_cases
from radiomics_ssl.datasets import cohort_rows

UNITS = "diagnostics_ssl_Units"


@pytest.fixture(scope="module")
def pet_batch(shared_data, tmp_path_factory):
  return write_cases(tmp_path_factory.mktemp("pet") / "pet.csv", cohort_rows(shared_data, "sts-pet")[:2])


@pytest.fixture(scope="module")
def ct_batch(shared_data, tmp_path_factory):
  return write_cases(tmp_path_factory.mktemp("ct") / "ct.csv", cohort_rows(shared_data, "pyradiomics-ct"))


@pytest.mark.parametrize("params", ["ssl.yaml", "ssl_only.yaml"])
def test_ct_weights_on_pet_warn_once_per_case_and_say_so_in_a_column(params, pet_batch, tmp_path):
  """A parameter file that names no modality: the mismatch is a warning and a column."""
  result = run("pyradiomicsssl", pet_batch, "--param", PARAMS / params, "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 0, result.stderr[-2000:]
  rows = read_rows(tmp_path / "o.csv")
  for row in rows:
    assert row[UNITS].startswith("the weights expect CT images, but the ROI's values look like SUV (PET)")
    assert result.stderr.count(f"{row['ID']}: the weights expect CT images") == 1
  unset = "sslModality is not set, so the ct-openkbp-siam3d weights (a CT contract"
  assert (unset in result.stderr) == ("sslModality" not in (PARAMS / params).read_text().split("setting:")[1])


@pytest.mark.parametrize("params, batch, expected", [("ssl_ct.yaml", "pet", "expect CT images, but the ROI's values look like SUV"),
                                                     ("ssl_pet.yaml", "ct", "expect PET images, but the ROI's values look like HU")])
def test_a_modality_file_on_images_of_another_fails_each_case_before_any_feature(params, batch, expected, ct_batch,
                                                                                  pet_batch, tmp_path):
  """params/ssl_pet.yaml on a CT nodule ran for 151 s (SUV bins on HU) and exited 0 with a warning
  after the features; now each case fails in one line, before any feature, and nothing is written."""
  batch = {"ct": ct_batch, "pet": pet_batch}[batch]
  result = run("pyradiomicsssl", batch, "--param", PARAMS / params, "--format", "csv", "--out", tmp_path / "a.csv")
  assert result.returncode == 1, result.stderr[-2000:]
  failures = result.stderr.split("case(s) failed:\n")[1].strip().splitlines()
  assert len(failures) == len(read_rows(batch))
  for line, row in zip(failures, read_rows(batch)):
    assert line.strip().startswith(f"{row['ID']} (Image=") and expected in line and "no feature was computed" in line
  assert "GLCM" not in result.stderr  # no classical class ran
  assert not (tmp_path / "a.csv").exists()


def test_matching_units_pass(pet_batch, tmp_path):
  on_pet = run("pyradiomicsssl", pet_batch, "--param", PARAMS / "ssl_pet.yaml", "--format", "csv", "--out", tmp_path / "b.csv")
  assert "expect" not in on_pet.stderr and "sslModality is not set" not in on_pet.stderr
  assert {row[UNITS] for row in read_rows(tmp_path / "b.csv")} == {"consistent with PET"}


def test_the_units_check_can_be_silenced(pet_batch, tmp_path):
  result = run("pyradiomicsssl", pet_batch, "--param", PARAMS / "ssl_ct.yaml", "--setting", "sslUnitsCheck:false",
               "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 0 and "expect" not in result.stderr
  assert {row[UNITS] for row in read_rows(tmp_path / "o.csv")} == {"not checked (sslUnitsCheck: false)"}


def test_the_python_api_reports_the_units_too(shared_data, caplog, tmp_path):
  from helpers import make_untrained_weights

  ct = make_untrained_weights(tmp_path / "fresh-ct.safetensors", modality="CT", intensity="fixed", window=(-200.0, 300.0))
  row = cohort_rows(shared_data, "sts-pet")[0]
  result = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml"), sslWeights=ct).execute(row["Image"], row["Mask"])
  assert result[UNITS].startswith("the weights expect CT images, but the ROI's values look like SUV (PET)")
  assert any("sslModality is not set" in record.getMessage() for record in caplog.records)


def test_failed_cases_are_reported_once_by_id(pet_batch, tmp_path):
  rows = read_rows(pet_batch) + [{"ID": "lost", "Image": str(tmp_path / "absent.nii.gz"), "Mask": read_rows(pet_batch)[0]["Mask"]}]
  batch = write_cases(tmp_path / "b.csv", rows)
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_pet.yaml", "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 1
  assert result.stderr.count("absent.nii.gz") == 1  # the path once, in one line
  assert "1 of 3 case(s) failed:\n  lost: " in result.stderr and "absent.nii.gz: image file does not exist" in result.stderr
  assert [row["ID"] for row in read_rows(tmp_path / "o.csv")] == [row["ID"] for row in read_rows(pet_batch)]  # not written


def test_a_yaml_syntax_error_exits_2_naming_the_file_and_line(pet_batch, tmp_path):
  broken = tmp_path / "broken.yaml"
  broken.write_text("featureClass:\n  ssl:\nsetting:\n  binWidth: 25\n   label: 1\n")
  result = run("pyradiomicsssl", pet_batch, "--param", broken)
  assert result.returncode == 2, result.stderr[-2000:]
  assert f"{broken}: not valid YAML" in result.stderr and "line 5" in result.stderr
  assert "Traceback" not in result.stderr


def test_validate_checks_files_labels_and_geometry_and_fails_on_a_problem(pet_batch, shared_data, tmp_path):
  good = read_rows(pet_batch)
  other = cohort_rows(shared_data, "sts-mr")[0]
  rows = good + [{"ID": "no_mask", "Image": good[0]["Image"], "Mask": str(tmp_path / "absent_mask.nii.gz")},
                 {"ID": "mismatch", "Image": good[0]["Image"], "Mask": other["Mask"]}]
  result = run("pyradiomicsssl", write_cases(tmp_path / "b.csv", rows), "--param", PARAMS / "ssl_pet.yaml", "--validate")
  assert result.returncode == 1, result.stderr[-2000:]
  assert "2 of 4 case(s) failed validation" in result.stderr
  assert "no_mask: " in result.stderr and "absent_mask.nii.gz: mask file does not exist" in result.stderr
  assert "mismatch: " in result.stderr and "geometry mismatch" in result.stderr
  assert run("pyradiomicsssl", pet_batch, "--param", PARAMS / "ssl_pet.yaml", "--validate").returncode == 0


def test_shipped_parameter_files_name_their_modality_or_none(tmp_path):
  """ssl.yaml and ssl_only.yaml are the modality-free starting points; the modality files set it."""
  for name, modality in {"ssl_ct.yaml": "CT", "ssl_pet.yaml": "PET", "ssl_mr.yaml": "MR"}.items():
    assert yaml.safe_load(open(PARAMS / name))["setting"]["sslModality"] == modality
