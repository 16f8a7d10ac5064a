"""What a new user hit on the commands' road (issue: "One road to an ssl row"), each as it behaves now:
--out stays readable, a failed case is never written, one line per problem, and assembly says what
it extracted itself. Each test failed on the release before."""
import pytest

from helpers import PARAMS, read_rows, run, write_cases
from radiomics_ssl.datasets import cohort_rows


@pytest.fixture(scope="module")
def pet(shared_data):
  return cohort_rows(shared_data, "sts-pet")[:3]


def extract(row, out, params="ssl_pet.yaml", *extra):
  return run("pyradiomicsssl", row["Image"], row["Mask"], "--param", PARAMS / params, "--format", "csv", "--out", out, *extra)


def test_out_takes_runs_one_after_another_and_stays_readable(pet, tmp_path):
  out = tmp_path / "features.csv"
  assert extract(pet[0], out).returncode == 0
  assert extract(pet[1], out).returncode == 0
  text = out.read_text()
  assert text.count("Image,Mask,") == 1  # one header (pyradiomics' --out wrote one per run)
  assert [row["Image"] for row in read_rows(out)] == [pet[0]["Image"], pet[1]["Image"]]

  again = extract(pet[0], out)  # a rerun would have doubled the row
  assert again.returncode == 2 and "already holds rows for 1 of these 1 case(s)" in again.stderr
  assert out.read_text() == text

  other = extract(pet[2], out, "ssl_only.yaml", "--setting", "sslUnitsCheck:false")  # another header
  assert other.returncode == 1 and f"{tmp_path / 'features-2.csv'} instead" in other.stderr
  assert out.read_text() == text and len(read_rows(tmp_path / "features-2.csv")) == 1


def test_a_failed_single_case_writes_no_row(pet, tmp_path):
  result = extract(dict(pet[0], Image=str(tmp_path / "absent.nii.gz")), tmp_path / "o.csv")
  assert result.returncode == 1 and result.stderr.count("absent.nii.gz") == 1
  assert not (tmp_path / "o.csv").exists()


def test_a_missing_batch_csv_exits_2_in_one_line(tmp_path):
  result = run("pyradiomicsssl", tmp_path / "cases.csv", "--param", PARAMS / "ssl_pet.yaml")
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "cases.csv: batch CSV does not exist" in result.stderr


@pytest.mark.parametrize("where", ["file", "setting"])
def test_a_settings_typo_is_one_line_with_the_nearest_key(pet, tmp_path, where):
  params = tmp_path / "typo.yaml"
  params.write_text((PARAMS / "ssl_pet.yaml").read_text().replace("binWidth:", "binWidht:"))
  if where == "file":
    result = extract(pet[0], tmp_path / "o.csv", params)
  else:
    result = extract(pet[0], tmp_path / "o.csv", "ssl_pet.yaml", "--setting", "sslUnitCheck:false")
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, lines
  assert ("did you mean 'binWidth'?" if where == "file" else "did you mean 'sslUnitsCheck'?") in lines[0]


def test_assembly_says_what_it_extracted_itself(pet, tmp_path):
  batch = write_cases(tmp_path / "cases.csv", pet)
  shard = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_pet.yaml", "--out-dir", tmp_path / "cases", "--shard", "0/2")
  assert shard.returncode == 0, shard.stderr[-2000:]
  assembled = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_pet.yaml", "--out-dir", tmp_path / "cases",
                  "--format", "csv", "--out", tmp_path / "all.csv")  # shard 1/2 never ran
  assert assembled.returncode == 0, assembled.stderr[-2000:]
  assert f"Assembled 2 of 3 case(s) from {tmp_path / 'cases'}; extracted 1 here" in assembled.stderr
  assert len(read_rows(tmp_path / "all.csv")) == 3
