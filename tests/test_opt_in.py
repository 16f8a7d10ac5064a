"""`import radiomics_ssl` registers the extraction wing; importing the trainer or the evaluator does not.

Each check runs in a fresh interpreter: registration is per process and import order matters.
"""
import subprocess
import sys

import pytest

REGISTRY = "'ssl' in radiomics.getFeatureClasses()"
SCHEMA = ("radiomics.getParameterValidationFiles is radiomics_getParameterValidationFiles and "
          "radiomics.featureextractor.RadiomicsFeatureExtractor.execute is stock_execute")


def python(code):
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  return result.stdout.split()


@pytest.mark.parametrize("module", ["radiomics_ssl.train", "radiomics_ssl.train.cli", "radiomics_ssl.train.loop",
                                    "radiomics_ssl.evaluate", "radiomics_ssl.evaluate.cli"])
def test_importing_a_wing_leaves_pyradiomics_untouched(module):
  code = ("import radiomics, radiomics.featureextractor\n"
          "radiomics_getParameterValidationFiles = radiomics.getParameterValidationFiles\n"
          "stock_execute = radiomics.featureextractor.RadiomicsFeatureExtractor.execute\n"
          f"import {module}\nimport sys\n"
          f"print({REGISTRY}, {SCHEMA}, 'radiomics_ssl.extract' in sys.modules)")
  assert python(code) == ["False", "True", "False"]


@pytest.mark.parametrize("statement", ["import radiomics_ssl", "from radiomics_ssl.datasets import cohort_rows",
                                       "import radiomics_ssl.inference"])
def test_importing_the_package_is_the_opt_in(statement):
  assert python(f"{statement}\nimport radiomics\nprint({REGISTRY})") == ["True"]


def test_register_opts_in_after_a_wing_was_imported_first():
  code = (f"import radiomics_ssl.train, radiomics_ssl, radiomics\nprint({REGISTRY})\n"
          f"radiomics_ssl.register()\nprint({REGISTRY})")
  assert python(code) == ["False", "True"]
