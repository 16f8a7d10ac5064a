"""The opt-in: `radiomics_ssl.register()` registers the ssl class with pyradiomics and changes only
what it lists; nothing else does (no import), whatever the import order or the install mode.

Each check runs in a fresh interpreter, because registration is per process. Two start-ups are
tried: a plain `pip install .`, whose interpreter has not imported `importlib` when the script
starts (reproduced with `-S` and the site-packages on PYTHONPATH, and checked), and an editable
install, whose start-up hook has (reproduced by importing it first).
"""
import os
import site
import subprocess
import sys

import pytest

REGISTRY = "'ssl' in radiomics.getFeatureClasses()"
PRISTINE = ("radiomics.getParameterValidationFiles is stock_schema and "
            "radiomics.featureextractor.RadiomicsFeatureExtractor.execute is stock_execute")
STOCK = ("import radiomics, radiomics.featureextractor\n"
         "stock_schema = radiomics.getParameterValidationFiles\n"
         "stock_execute = radiomics.featureextractor.RadiomicsFeatureExtractor.execute\n")
START_UPS = ["plain", "editable"]


def python(code, start_up):
  """Run `code` in a fresh interpreter started as `start_up` installs start it; -> printed words."""
  if start_up == "plain":
    code = f"import sys\nassert 'importlib' not in sys.modules, 'start-up imported importlib'\n{code}"
    command = [sys.executable, "-S", "-c", code]
    path = [*sys.path[1:], *site.getsitepackages()]  # this interpreter's, so the same radiomics_ssl is found
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
  else:
    command, env = [sys.executable, "-c", f"import importlib, importlib.util\n{code}"], None
  result = subprocess.run(command, capture_output=True, text=True, env=env)
  assert result.returncode == 0, result.stderr
  return result.stdout.split()


@pytest.mark.parametrize("start_up", START_UPS)
@pytest.mark.parametrize("statement", ["import radiomics_ssl", "import radiomics_ssl.train",
                                       "import radiomics_ssl.train.cli", "import radiomics_ssl.train.loop",
                                       "import radiomics_ssl.evaluate.cli", "import radiomics_ssl.inference",
                                       "from radiomics_ssl.datasets import cohort_rows"])
def test_importing_anything_but_the_extraction_wing_leaves_pyradiomics_untouched(statement, start_up):
  code = f"{STOCK}{statement}\nprint({REGISTRY}, {PRISTINE}, 'radiomics_ssl.extract' in sys.modules)"
  assert python(f"import sys\n{code}", start_up) == ["False", "True", "False"]


@pytest.mark.parametrize("start_up", START_UPS)
@pytest.mark.parametrize("first", ["", "import radiomics_ssl.train\n", "import radiomics_ssl.evaluate\n",
                                   "import radiomics, radiomics.featureextractor\n"])
def test_register_is_the_opt_in_whatever_was_imported_before(first, start_up):
  code = (f"{first}import radiomics_ssl, radiomics\nprint({REGISTRY})\n"
          f"radiomics_ssl.register()\nprint({REGISTRY})\nradiomics_ssl.register()\nprint({REGISTRY})")
  assert python(code, start_up) == ["False", "True", "True"]


@pytest.mark.parametrize("start_up", START_UPS)
def test_importing_the_extraction_wing_changes_nothing(start_up):
  code = f"{STOCK}import radiomics_ssl.extract, radiomics_ssl.extract.cli\nprint({REGISTRY}, {PRISTINE})"
  assert python(code, start_up) == ["False", "True"]


def test_register_changes_exactly_what_it_lists():
  """register() returns the names it changes; every other attribute of pyradiomics' modules, and
  of its extractor class, is the object it was (the thin-axis guard among them: extract/thin_axes.py)."""
  code = (
    "import json, radiomics, radiomics.featureextractor as fe, radiomics.imageoperations as io, radiomics_ssl\n"
    "def snapshot():\n"
    "  items = {f'radiomics.{k}': v for k, v in vars(radiomics).items()}\n"
    "  items.update({f'radiomics.featureextractor.{k}': v for k, v in vars(fe).items()})\n"
    "  items.update({f'radiomics.imageoperations.{k}': v for k, v in vars(io).items()})\n"
    "  items.update({f'RadiomicsFeatureExtractor.{k}': v for k, v in vars(fe.RadiomicsFeatureExtractor).items()})\n"
    "  items.update({f\"radiomics.getFeatureClasses()['{k}']\": v for k, v in radiomics.getFeatureClasses().items()})\n"
    "  return items\n"
    "before = snapshot()\n"
    "listed = radiomics_ssl.register()\n"
    "after = snapshot()\n"
    "changed = sorted(k for k in set(before) | set(after) if before.get(k) is not after.get(k))\n"
    "print(json.dumps([sorted(listed), changed], separators=(',', ':')))\n"
  )
  import json

  listed, changed = json.loads("".join(python(code, "editable")))
  assert changed == listed == sorted(["radiomics.getFeatureClasses()['ssl']", "radiomics.getParameterValidationFiles",
                                      "radiomics.featureextractor.getParameterValidationFiles",
                                      "RadiomicsFeatureExtractor.execute"])


def test_the_package_inspects_no_interpreter_internals():
  import radiomics_ssl

  root = os.path.dirname(radiomics_ssl.__file__)
  offenders = [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names
               if name.endswith(".py") and any(word in open(os.path.join(folder, name)).read()
                                               for word in ("_getframe", "_bootstrap", "f_back"))]
  assert offenders == []
