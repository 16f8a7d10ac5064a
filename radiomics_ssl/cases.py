"""Reading cases: pyradiomics batch CSVs and image/mask pairs, with errors that name the file.

Every command reads a case here (`load_row`): an image file (NIfTI, NRRD: whatever SimpleITK
reads) with a mask file, or a DICOM series folder with an RTSTRUCT or DICOM-SEG mask
(radiomics_ssl.dicom; the row's `ROI` names the structure or segment, `Label` its number,
`SeriesInstanceUID` the series when the folder holds several). The trainer hands the encoder the
ROI exactly as a pyradiomics feature class sees it (`crop_to_roi`).
"""
import csv
import hashlib
import os

import SimpleITK as sitk

from radiomics_ssl.preprocess import RoiError, check_roi


class CaseError(ValueError):
  """An unusable case; the message names the file and the problem."""


def read_batch_csv(path):
  """Rows of a pyradiomics batch CSV (`Image`, `Mask`, optional `Label`, any other columns).

  Relative paths are resolved against the CSV's folder, as the `pyradiomics` CLI does.
  """
  if not os.path.isfile(path):
    raise CaseError(f"{path}: batch CSV does not exist")
  with open(path, newline="") as stream:
    reader = csv.DictReader(stream)
    missing = [column for column in ("Image", "Mask") if column not in (reader.fieldnames or [])]
    if missing:
      raise CaseError(f"{path}: required column(s) {missing} missing (found {reader.fieldnames})")
    rows = list(reader)
  folder = os.path.dirname(os.path.abspath(path))
  for row in rows:
    for column in ("Image", "Mask"):
      if row[column] and not os.path.isabs(row[column]):
        row[column] = os.path.abspath(os.path.join(folder, row[column]))
  return rows


def file_sha256(path, chunk=1 << 20):
  """sha256 of a file's bytes (the trainer's box cache and --out-dir's provenance key on it)."""
  digest = hashlib.sha256()
  with open(path, "rb") as stream:
    for block in iter(lambda: stream.read(chunk), b""):
      digest.update(block)
  return digest.hexdigest()


def input_sha256(path, role, series_uid=None):
  """The sha256 that identifies an input: a file's bytes, or a DICOM series folder's files (names and
  bytes: radiomics_ssl.dicom.fingerprint). Caches and --out-dir's provenance key on it."""
  if path and os.path.isdir(path):
    from radiomics_ssl import dicom

    try:
      return dicom.fingerprint(path, series_uid or None)
    except dicom.DicomError as error:
      raise CaseError(str(error)) from None
  if not path or not os.path.isfile(path):
    raise CaseError(f"{path}: {role} file does not exist")
  return file_sha256(path)


def case_label(row, default=1):
  """The `Label` column as an int (empty -> default)."""
  value = str(row.get("Label") if row.get("Label") is not None else "").strip()
  try:
    return int(value) if value else default
  except ValueError:
    raise CaseError(f"Label {value!r} for {row.get('Mask')} is not an integer") from None


def read_image(path, role):
  """Read an image with SimpleITK; `role` ('image' or 'mask') appears in errors."""
  if not path:
    raise CaseError(f"no {role} path given")
  if not os.path.isfile(path):
    raise CaseError(f"{path}: {role} file does not exist")
  try:
    return sitk.ReadImage(path)
  except RuntimeError as error:
    first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reader error"
    raise CaseError(f"{path}: cannot read {role} ({first_line})") from None


DICOM_COLUMNS = ("ROI", "SeriesInstanceUID")  # batch CSV columns that choose inside DICOM inputs


def load_row(row, default_label=1, correct_mask=False, suv=True):
  """A batch CSV row -> (image, mask, label, info): the label pyradiomics must use, and for DICOM
  inputs what was read (series UID, ROI name or segment number, SUV factor and its inputs:
  `dicom_diagnostics`). PET series are in SUV (body weight) unless `suv` is False."""
  from radiomics_ssl import dicom

  image_path, mask_path = row.get("Image"), row.get("Mask")
  if not (dicom.is_dicom_image(image_path) or _is_dicom_mask(mask_path)):
    label = case_label(row, default_label)
    return (*load_case(image_path, mask_path, label, correct_mask), label, {})
  given = str(row.get("Label") or "").strip()
  try:
    if not os.path.isdir(image_path or ""):
      raise CaseError(f"{mask_path}: a DICOM mask needs its DICOM image series (a folder) as Image, not {image_path}")
    image, info = dicom.read_image(image_path, row.get("SeriesInstanceUID") or None, suv)
    if _is_dicom_mask(mask_path):
      mask, mask_info = dicom.read_mask(mask_path, image, info, row.get("ROI") or None, int(given) if given else None)
      label = 1  # the chosen structure or segment, rasterised as 1
    else:
      mask, mask_info, label = read_image(mask_path, "mask"), {}, case_label(row, default_label)
  except dicom.DicomError as error:
    raise CaseError(str(error)) from None
  except ValueError as error:  # a Label that is not a number
    raise CaseError(f"{mask_path}: Label {given!r} is not an integer ({error})") from None
  _checked(image, mask, label, correct_mask, image_path, mask_path)
  return image, mask, label, dict(info, **{("MaskModality" if key == "Modality" else key): value
                                          for key, value in mask_info.items()})


def dicom_diagnostics(info):
  """`diagnostics_DICOM_*` columns of a DICOM case's `info` (load_row): what was read, and the SUV
  factor with its inputs, so that any SUV can be audited; {} for other inputs."""
  import json

  keys = ("SeriesInstanceUID", "Modality", "MaskModality", "ROI", "ROINumber", "SegmentNumber", "SUVFactor", "SUVInputs",
          "Notes")
  return {f"diagnostics_DICOM_{key}": json.dumps(info[key], sort_keys=True) if isinstance(info[key], (dict, list))
          else info[key] for key in keys if info.get(key) is not None}


def _is_dicom_mask(path):
  from radiomics_ssl import dicom

  return bool(path) and os.path.isfile(path) and dicom.is_dicom_mask(path)


def load_case(image_path, mask_path, label=1, correct_mask=False):
  """Read an image and mask and refuse inputs that would give garbage features (see preprocess.check_roi)."""
  image, mask = read_image(image_path, "image"), read_image(mask_path, "mask")
  _checked(image, mask, label, correct_mask, image_path, mask_path)
  return image, mask


def _checked(image, mask, label, correct_mask, image_path, mask_path):
  try:
    check_roi(image, mask, label, correct_mask)
  except RoiError as error:
    raise CaseError(f"{image_path if error.role == 'image' else mask_path}: {error}") from None


def crop_to_roi(image, mask, label=1, image_path="image", mask_path="mask", **settings):
  """Tight bounding-box crop, as pyradiomics hands images to a feature class. pyradiomics' mask
  check raises SimpleITK's own error for some geometry mismatches; both kinds name the files here."""
  from radiomics import imageoperations

  try:
    mask = imageoperations.getMask(mask, label=label, **settings)  # it reads the label from its kwargs
    bounding_box, corrected = imageoperations.checkMask(image, mask, label=label, **settings)
  except (ValueError, RuntimeError) as error:
    raise CaseError(f"{image_path}, {mask_path}: {_geometry_mismatch(image, mask) or error}") from None
  if bounding_box is None:
    raise CaseError(f"{image_path}, {mask_path}: mask check failed (label {label})")
  return imageoperations.cropToTumorMask(image, corrected if corrected is not None else mask, bounding_box)


def _geometry_mismatch(image, mask):
  """A one-line description of how the mask's grid differs from the image's, or None."""
  differences = [f"{name} {getter(mask)} (mask) vs {getter(image)} (image)"
                 for name, getter in (("size", lambda i: list(i.GetSize())),
                                      ("spacing", lambda i: [round(v, 4) for v in i.GetSpacing()]),
                                      ("origin", lambda i: [round(v, 3) for v in i.GetOrigin()]),
                                      ("direction", lambda i: [round(v, 4) for v in i.GetDirection()]))
                 if getter(image) != getter(mask)]
  return "image/mask geometry mismatch: " + "; ".join(differences) if differences else None
