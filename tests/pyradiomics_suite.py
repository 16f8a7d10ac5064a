"""pyradiomics' own feature tests with the ssl class registered, and the baseline they need.

pyradiomics' `tests/test_features.py` checks every registered feature class against
`data/baseline/baseline_<class>.csv`. Its test files come from the pyradiomics 3.0.1 source
distribution, which `make install` fetches into build/pyradiomics-3.0.1/ (they are not copied into
this repository); `baseline_ssl.csv` (tests/data/) is ours, in pyradiomics' own format, for its five
test cases and the default weights. Regenerate it only when the default weights change on purpose:

  python tests/pyradiomics_suite.py baseline
  python tests/pyradiomics_suite.py all        # every scenario, as the closing notes report it

The default test runs every class on the five test cases the ssl baseline covers; `all` adds
pyradiomics' normalisation, resampling and resegmentation variants, which exercise pyradiomics
itself (4605 scenarios, about 10 minutes here). shape2D's scenarios need single-slice labels that
pyradiomics downloads from GitHub at run time (they are not in the sdist), so they are deselected:
this machine has no network.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SDIST = REPO / "build" / "pyradiomics-3.0.1"
BASELINE = Path(__file__).with_name("data") / "baseline_ssl.csv"
TEST_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def require_sdist():
  if not (SDIST / "tests" / "test_features.py").is_file():
    raise FileNotFoundError(f"{SDIST}: pyradiomics' test files are missing; `make install` fetches them from the "
                            "pyradiomics 3.0.1 source distribution")
  return SDIST


def stage(root, with_ssl_baseline=True):
  """pyradiomics' tests and baselines under `root`, with baseline_ssl.csv and the plugin registered;
  returns the environment that lets pyradiomics' getTestCase find the test images offline."""
  sdist = require_sdist()
  shutil.copytree(sdist / "tests", root / "tests")
  shutil.copytree(sdist / "data" / "baseline", root / "data" / "baseline")
  if with_ssl_baseline:
    shutil.copy(BASELINE, root / "data" / "baseline")
  (root / "tests" / "conftest.py").write_text("import radiomics_ssl\n\nradiomics_ssl.register()\n")
  images = root / "tmp" / "pyradiomics"
  images.mkdir(parents=True)
  (images / "data").symlink_to(sdist / "data", target_is_directory=True)  # getTestCase: <TMPDIR>/pyradiomics/data
  return dict(os.environ, TMPDIR=str(root / "tmp"), NOSE_PARAMETERIZED_NO_WARN="1")


OFFLINE = "not shape2D"
FIVE_CASES = f"{OFFLINE} and not normalization and not resampling and not resegmentation"


def run_suite(root, select=FIVE_CASES):
  """Run pyradiomics' test_features.py in a fresh process -> CompletedProcess (pytest -rA output)."""
  env = stage(root)
  return subprocess.run([sys.executable, "-m", "pytest", "tests/test_features.py", "-q", "-rA", "-p", "no:cacheprovider",
                         "-k", select], cwd=root, env=env, capture_output=True, text=True, timeout=3600)


def write_baseline(path=BASELINE):
  """Compute the ssl features of pyradiomics' five test cases as its suite loads them (the settings
  of baseline_firstorder.csv) with the default weights, and write them in pyradiomics' format."""
  import tempfile

  with tempfile.TemporaryDirectory() as folder:
    env = stage(Path(folder), with_ssl_baseline=False)
    tempfile.tempdir = env["TMPDIR"]  # where pyradiomics' getTestCase looks for the test images
    sys.path.insert(0, str(Path(folder) / "tests"))
    import radiomics_ssl
    from testUtils import PyRadiomicsBaseline, RadiomicsTestUtils

    from radiomics_ssl import weights
    from radiomics_ssl.config import DEFAULT_WEIGHTS
    from radiomics_ssl.extract.featureclass import RadiomicsSSL

    radiomics_ssl.register()
    utils = RadiomicsTestUtils()
    firstorder, baseline = utils._baseline["firstorder"], PyRadiomicsBaseline("ssl")
    sha256 = weights.load(DEFAULT_WEIGHTS).sha256
    for test in TEST_CASES:
      utils.setFeatureClassAndTestCase("firstorder", test)
      feature_class = RadiomicsSSL(utils.getImage("original"), utils.getMask("original"), **utils.getSettings())
      feature_class.enableAllFeatures()
      feature_class.execute()
      baseline.configuration[test] = dict(firstorder.configuration[test], diagnostics_ssl_WeightsSha256=sha256)
      baseline.baseline[test] = {f"original_ssl_{name}": value for name, value in feature_class.featureValues.items()}
      baseline.tests.add(test)
    baseline.writeBaselineFile(str(path.parent))
  return path


if __name__ == "__main__":
  if sys.argv[1:] == ["baseline"]:
    print(write_baseline())
  elif sys.argv[1:] == ["all"]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
      result = run_suite(Path(folder), OFFLINE)
      print(result.stdout[-600:])
  else:
    raise SystemExit(__doc__)
