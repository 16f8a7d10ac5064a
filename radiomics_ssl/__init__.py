"""radiomics_ssl: self-supervised 3D deep features (3DSiam with RE/SE) as a pyradiomics feature class.

`import radiomics_ssl` is the opt-in for extraction: it registers the `ssl` feature class and its
settings with pyradiomics (radiomics_ssl.extract), as does importing any module of the package but
those of the trainer and the evaluator: `import radiomics_ssl.train...` or `radiomics_ssl.evaluate...`
leaves pyradiomics untouched. After such an import, Python does not run this file again, so
`radiomics_ssl.register()` is the opt-in.
"""
QUIET_WINGS = ("train", "evaluate")  # importing these (the package as their parent) registers nothing
__version__ = "0.2.0"


def register():
  """Register the ssl feature class and its settings with pyradiomics (idempotent)."""
  from radiomics_ssl.extract import register as install

  install()


def _imported_for_a_quiet_wing():
  """True while Python imports this package as the parent of a trainer or evaluator module (the
  import system's frames name the module). Pinned by tests/test_opt_in.py on this Python version."""
  import sys

  frame = sys._getframe(1)
  while frame is not None:
    if frame.f_code.co_name == "_find_and_load" and frame.f_globals.get("__name__") == "importlib._bootstrap":
      name = str(frame.f_locals.get("name", ""))
      if any(name == f"{__name__}.{wing}" or name.startswith(f"{__name__}.{wing}.") for wing in QUIET_WINGS):
        return True
    frame = frame.f_back
  return False


if not _imported_for_a_quiet_wing():
  register()
