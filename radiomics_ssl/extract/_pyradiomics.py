"""Every private pyradiomics name radiomics_ssl depends on, in one place.

pyradiomics 3.0.1 offers no public hook for these, so the extraction wing reaches into:
- `PyRadiomicsCommandLine._processCases`: the command line's case loop, which `pyradiomicsssl`
  replaces; `run()` calls it after parsing and before writing the output;
- `PyRadiomicsCommandLine._processOutput` and `_validateCases`: the output writer (skipped when a
  batch stopped) and `--validate`'s loop (replaced by a full check of each case), called by `run()`;
- `PyRadiomicsCommandLine` attributes it sets before the case loop: `args`, `logging_config`,
  `num_workers`, `case_count`;
- `parser._actions`: argparse's list of actions, to give `--version` our text and `--out` a path;
- `radiomics.scripts.segment._configureParallelExtraction`: worker logging and one SimpleITK thread.
`require()` checks them all at import, and tests/extract/test_pyradiomics_private.py pins them, so a
pyradiomics that renames one fails with a message naming it instead of deep inside a batch.
"""
import inspect

import radiomics
from radiomics.scripts import PyRadiomicsCommandLine, segment

CASE_LOOP = "_processCases"
RUN_STEPS = ("_processOutput", "_validateCases")
ATTRIBUTES = ("args", "logging_config", "num_workers", "case_count")


def missing_names():
  """The private names this module needs that this pyradiomics lacks."""
  source = inspect.getsource(PyRadiomicsCommandLine)
  run = inspect.getsource(PyRadiomicsCommandLine.run) if hasattr(PyRadiomicsCommandLine, "run") else ""
  missing = [] if hasattr(PyRadiomicsCommandLine, CASE_LOOP) and f"self.{CASE_LOOP}(" in run else \
    [f"PyRadiomicsCommandLine.{CASE_LOOP}, called by run()"]
  missing += [f"PyRadiomicsCommandLine.{name}, called by run()" for name in RUN_STEPS
              if not hasattr(PyRadiomicsCommandLine, name) or f"self.{name}(" not in run]
  missing += [f"PyRadiomicsCommandLine attribute {name!r}" for name in ATTRIBUTES if f"self.{name}" not in source]
  if not hasattr(segment, "_configureParallelExtraction"):
    missing.append("radiomics.scripts.segment._configureParallelExtraction")
  if not any(getattr(action, "dest", None) == "version" for action in getattr(PyRadiomicsCommandLine.getParser(), "_actions", [])):
    missing.append("argparse.ArgumentParser._actions with a 'version' action")
  return missing


def require():
  missing = missing_names()
  if missing:
    raise ImportError(f"pyradiomicsssl needs private pyradiomics names that pyradiomics {radiomics.__version__} lacks: "
                      f"{missing}; it was built against pyradiomics 3.0.1")


def set_out_to_path(parser, help_text):
  """`--out` as a path (pyradiomics opens it for appending as it parses; extract/output.py decides
  how to write it, once there is something to write)."""
  for action in parser._actions:
    if action.dest == "out":
      action.type, action.help = str, help_text


def set_version_text(parser, text):
  for action in parser._actions:
    if action.dest == "version":
      action.version = text


def configure_worker(logging_config=None, sitk_threads=1):
  """pyradiomics' own worker set-up: its logging configuration (None: leave logging as it is) and
  one SimpleITK thread per worker, or `sitk_threads`."""
  import SimpleITK as sitk

  segment._configureParallelExtraction(logging_config or {"version": 1, "disable_existing_loggers": False})
  sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(sitk_threads)


require()
