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


@pytest.mark.parametrize("params", ["ssl.yaml", "ssl_only.yaml", "ssl_ct.yaml"])
def test_ct_weights_on_pet_warn_once_per_case_and_say_so_in_a_column(params, pet_batch, tmp_path):
  result = run("pyradiomicsssl", pet_batch, "--param", PARAMS / params, "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 0, result.stderr[-2000:]
  rows = read_rows(tmp_path / "o.csv")
  for row in rows:
    assert row[UNITS].startswith("the weights expect CT images, but the ROI's values look like SUV (PET)")
    assert result.stderr.count(f"{row['ID']}: the weights expect CT images") == 1
  unset = "sslModality is not set, so the ct-openkbp-siam3d weights (a CT contract"
  assert (unset in result.stderr) == ("sslModality" not in (PARAMS / params).read_text().split("setting:")[1])


def test_pet_weights_on_ct_warn_and_matching_units_pass(ct_batch, pet_batch, tmp_path):
  on_ct = run("pyradiomicsssl", ct_batch, "--param", PARAMS / "ssl_pet.yaml", "--format", "csv", "--out", tmp_path / "a.csv")
  assert on_ct.returncode == 0, on_ct.stderr[-2000:]
  for row in read_rows(tmp_path / "a.csv"):
    assert row[UNITS].startswith("the weights expect PET images, but the ROI's values look like HU (CT)")
    assert f"{row['ID']}: the weights expect PET images" in on_ct.stderr
  on_pet = run("pyradiomicsssl", pet_batch, "--param", PARAMS / "ssl_pet.yaml", "--format", "csv", "--out", tmp_path / "b.csv")
  assert "expect" not in on_pet.stderr and "sslModality is not set" not in on_pet.stderr
  assert {row[UNITS] for row in read_rows(tmp_path / "b.csv")} == {"consistent with PET"}


def test_the_units_check_can_be_silenced(pet_batch, tmp_path):
  result = run("pyradiomicsssl", pet_batch, "--param", PARAMS / "ssl_ct.yaml", "--setting", "sslUnitsCheck:false",
               "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 0 and "expect" not in result.stderr
  assert {row[UNITS] for row in read_rows(tmp_path / "o.csv")} == {"not checked (sslUnitsCheck: false)"}


def test_the_python_api_reports_the_units_too(shared_data, caplog):
  row = cohort_rows(shared_data, "sts-pet")[0]
  result = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml")).execute(row["Image"], row["Mask"])
  assert result[UNITS].startswith("the weights expect CT images, but the ROI's values look like SUV (PET)")
  assert any("sslModality is not set" in record.getMessage() for record in caplog.records)


def test_failed_cases_are_reported_once_by_id(pet_batch, tmp_path):
  rows = read_rows(pet_batch) + [{"ID": "lost", "Image": str(tmp_path / "absent.nii.gz"), "Mask": read_rows(pet_batch)[0]["Mask"]}]
  batch = write_cases(tmp_path / "b.csv", rows)
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_pet.yaml", "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 1
  assert result.stderr.count("absent.nii.gz: image file does not exist") == 1
  assert "1 of 3 case(s) failed:\n  lost (Image=" in result.stderr


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
