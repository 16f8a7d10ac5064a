"""DICOM inputs: an image series folder, and an RTSTRUCT or DICOM-SEG mask, as SimpleITK images.

The public API the readers of `radiomics_ssl.cases` call:

- `is_dicom_image(path)`, `is_dicom_mask(path)`: cheap tests of what a batch CSV names;
- `read_image(folder, series_uid=None, suv=True) -> (image, info)`;
- `read_mask(path, image, image_info, roi=None, label=None) -> (mask, info)`;
- `fingerprint(path, series_uid=None)`: a sha256 of a series (or one file) for resume/provenance;
- `DicomError`: every error, one line naming the file or folder.

pydicom and highdicom are the optional extra `radiomics_ssl[dicom]`, imported only when a DICOM
input is read; without them the error says how to install them.
"""
import os

import SimpleITK as sitk

from radiomics_ssl.dicom.errors import EXTRA_HINT, DicomDependencyError, DicomError, require
from radiomics_ssl.dicom.series import fingerprint

__all__ = ["DicomError", "DicomDependencyError", "EXTRA_HINT", "is_dicom_image", "is_dicom_mask", "read_image",
           "read_mask", "fingerprint"]

_PREAMBLE_FILES = 20  # files looked at by is_dicom_image before it gives up


def _has_preamble(path):
  try:
    with open(path, "rb") as stream:
      head = stream.read(132)
  except OSError:
    return False
  return len(head) == 132 and head[128:] == b"DICM"


def is_dicom_image(path):
  """True for a directory holding a file with the DICOM preamble (no pydicom needed)."""
  if not path or not os.path.isdir(path):
    return False
  names = sorted(name for name in os.listdir(path) if os.path.isfile(os.path.join(path, name)))
  return any(_has_preamble(os.path.join(path, name)) for name in names[:_PREAMBLE_FILES])


def is_dicom_mask(path):
  """True for a file starting with the DICOM preamble, or a .dcm file pydicom can read."""
  if not path or not os.path.isfile(path):
    return False
  if _has_preamble(path):
    return True
  if not str(path).lower().endswith(".dcm"):
    return False
  pydicom = require("pydicom")
  try:
    pydicom.dcmread(path, stop_before_pixels=True, force=True).SOPClassUID
    return True
  except Exception:
    return False


def read_image(folder, series_uid=None, suv=True):
  """(image, info) of the image series in `folder`; a PET series is converted to SUVbw unless `suv` is False.

  `info` is JSON-able: SeriesInstanceUID, Modality, FrameOfReferenceUID, SOPInstanceUIDs (in slice
  order, which `read_mask` uses), SUVFactor and SUVInputs (None when not converted).
  """
  from radiomics_ssl.dicom.series import read_series
  from radiomics_ssl.dicom.suv import suv_factor

  image, headers, info = read_series(folder, series_uid)
  info.update(SUVFactor=None, SUVInputs=None)
  if info["Modality"].upper() == "PT" and suv:
    factor, inputs = suv_factor(headers, f"{folder} (series {info['SeriesInstanceUID']})")
    if factor != 1.0:
      image = sitk.Cast(image, sitk.sitkFloat64) * factor
      image = sitk.Cast(image, sitk.sitkFloat32)
    info.update(SUVFactor=factor, SUVInputs=inputs)
  return image, info


def read_mask(path, image, image_info, roi=None, label=None):
  """(mask, info): an RTSTRUCT ROI or a SEG segment rasterised on exactly `image`'s grid (UInt8, 1 inside).

  `roi` chooses by name (RTSTRUCT ROIName or SEG SegmentLabel, exact, case-insensitive), `label` by
  number (ROINumber or SegmentNumber); both given must agree; neither picks the only ROI/segment.
  `info` holds ROI and/or SegmentNumber, MaskSOPInstanceUID and any Notes.
  """
  pydicom = require("pydicom")
  if not os.path.isfile(path):
    raise DicomError(f"{path}: mask file does not exist")
  try:
    header = pydicom.dcmread(path, stop_before_pixels=True)
  except Exception as error:
    raise DicomError(f"{path}: not a readable DICOM file ({error})") from None
  modality = str(header.get("Modality", "")).upper()
  if modality == "RTSTRUCT":
    from radiomics_ssl.dicom import rtstruct

    array, info = rtstruct.rasterise(pydicom.dcmread(path), path, image, image_info, roi, label)
  elif modality == "SEG":
    from radiomics_ssl.dicom import seg

    array, info = seg.rasterise(seg.read(path), path, image, image_info, roi, label)
  else:
    raise DicomError(f"{path}: Modality {modality or 'missing'} is not a mask (RTSTRUCT or SEG)")
  mask = sitk.GetImageFromArray(array)
  mask.CopyInformation(image)
  info["MaskSOPInstanceUID"] = str(header.SOPInstanceUID)
  info["Modality"] = modality
  return mask, info
