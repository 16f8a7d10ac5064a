"""One road to a row: the Python API (a stock extractor after register()) and `pyradiomicsssl` give
the same row, every column, diagnostics included, for every shipped parameter file, on the five
pyradiomics cases and three STS PET cases. A case the units rule refuses fails on both roads.

The command runs with --jobs 1, whose worker has this process's SimpleITK thread count: ITK's image
statistics sum in a thread-dependent order, so the last digits of `diagnostics_*_Mean` follow the
SimpleITK thread count (features do not), whichever road runs."""
import pytest
from radiomics.featureextractor import RadiomicsFeatureExtractor

from helpers import PARAMS, read_rows, run, write_cases
from radiomics_ssl.datasets import cohort_rows
from radiomics_ssl.extract.row import UnitsMismatch



@pytest.fixture(scope="module")
def cases(shared_data, tmp_path_factory):
  rows = cohort_rows(shared_data, "pyradiomics") + cohort_rows(shared_data, "sts-pet")[:3]
  return write_cases(tmp_path_factory.mktemp("parity") / "cases.csv", rows)


@pytest.mark.parametrize("params", sorted(PARAMS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_api_and_the_command_give_the_same_row(params, cases, tmp_path):
  out = tmp_path / "rows.csv"
  result = run("pyradiomicsssl", cases, "--param", params, "--jobs", "1", "--format", "csv", "--out", out)
  command_rows = {row["ID"]: row for row in read_rows(out)} if out.exists() else {}
  extractor = RadiomicsFeatureExtractor(str(params))
  compared = refused = 0
  for case in read_rows(cases):
    try:
      vector = extractor.execute(case["Image"], case["Mask"])
    except UnitsMismatch as error:
      refused += 1
      assert case["ID"] not in command_rows
      assert f"{case['ID']} (Image={case['Image']}" in result.stderr and str(error) in result.stderr
      continue
    row = command_rows[case["ID"]]
    assert list(row)[len(read_rows(cases)[0]):] == list(vector)  # the same columns, in the same order
    differences = [key for key, value in vector.items() if str(value) != row[key]]
    assert differences == [], (case["ID"], differences[:5])
    compared += 1
  assert compared + refused == 8 and compared >= 3
  assert result.returncode == (1 if refused else 0), result.stderr[-2000:]
