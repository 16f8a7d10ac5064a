"""The one error of the DICOM layer, and the lazy import of the optional `dicom` extra.

pydicom and highdicom are an extra (`pip install 'radiomics_ssl[dicom]'`), so nothing here imports
them at module level: a NIfTI-only install keeps working, and a DICOM input without the extra fails
once, with the command that fixes it.
"""
import importlib

EXTRA_HINT = "pip install 'radiomics_ssl[dicom]'"


class DicomError(ValueError):
  """An unusable DICOM input; the one-line message names the file or folder and the problem."""


class DicomDependencyError(DicomError, ImportError):
  """pydicom or highdicom is missing: the message names the extra that installs them."""


def require(module):
  """Import `module` (pydicom, highdicom, ...) or raise DicomDependencyError naming the extra."""
  try:
    return importlib.import_module(module)
  except ImportError as error:
    raise DicomDependencyError(f"reading DICOM needs {module.split('.')[0]} ({error}); install it with "
                               f"{EXTRA_HINT}") from None
