"""radiomics_ssl: self-supervised 3D deep features (3DSiam with RE/SE) as a pyradiomics feature class.

`import radiomics_ssl` is the opt-in for extraction: it registers the `ssl` feature class and its
settings with pyradiomics (radiomics_ssl.extract). Importing only the trainer or the evaluator
(`import radiomics_ssl.train`, `radiomics_ssl.evaluate`) leaves pyradiomics untouched; after such an
import, `radiomics_ssl.register()` opts in explicitly.
"""
__version__ = "0.2.0"


def register():
  """Register the ssl feature class and its settings with pyradiomics (idempotent)."""
  from radiomics_ssl.extract import register as install

  install()


def _imported_for_a_submodule():
  """True while Python imports this package only as the parent of one of its submodules (the import
  system's frames name the submodule). Pinned by tests/test_opt_in.py on this Python version."""
  import sys

  frame = sys._getframe(1)
  while frame is not None:
    if frame.f_code.co_name == "_find_and_load" and frame.f_globals.get("__name__") == "importlib._bootstrap":
      if str(frame.f_locals.get("name", "")).startswith(__name__ + "."):
        return True
    frame = frame.f_back
  return False


if not _imported_for_a_submodule():
  register()
