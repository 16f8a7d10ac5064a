"""pyradiomics' own feature tests (tests/test_features.py of its 3.0.1 sdist) cover the ssl class.

The suite checks every registered class against data/baseline/baseline_<class>.csv, each value
within its own 3% relative tolerance; ours (tests/data/baseline_ssl.csv) holds the default weights'
features of its five test cases. Measured across instruction sets (benchmarks/numerics.py) they move
by at most 4e-4 relative per value, far inside that tolerance. tests/pyradiomics_suite.py says
which scenarios run here and why.
"""
import csv

from pyradiomics_suite import BASELINE, TEST_CASES, run_suite
from radiomics_ssl import weights
from radiomics_ssl.config import DEFAULT_WEIGHTS


def test_the_ssl_baseline_is_for_the_default_weights():
  rows = {row[0]: row[1:] for row in csv.reader(open(BASELINE))}
  assert set(rows["diagnostics_ssl_WeightsSha256"]) == {weights.load(DEFAULT_WEIGHTS).sha256}, \
    "the default weights changed: regenerate the baseline with `python tests/pyradiomics_suite.py baseline`"
  assert rows["featureName"] == list(TEST_CASES)
  assert sorted(key for key in rows if key.startswith("original_ssl_")) == sorted(f"original_ssl_{i}" for i in range(256))


def test_pyradiomics_feature_suite_passes_with_the_ssl_class_registered(tmp_path):
  result = run_suite(tmp_path)
  lines = result.stdout.splitlines()
  outcomes = {line.split()[0] for line in lines if line.startswith(("PASSED", "FAILED", "ERROR"))}
  passed = [line for line in lines if line.startswith("PASSED")]
  ssl = [line for line in passed if "_original_ssl_" in line]
  assert result.returncode == 0 and outcomes == {"PASSED"}, result.stdout[-3000:] + result.stderr[-2000:]
  assert len(ssl) == len(TEST_CASES) * 256
  assert len(passed) - len(ssl) > 500, len(passed)  # every classical class of the five cases ran too
