"""A DICOM image series in a folder -> one 3D SimpleITK image, geometry from the files' own tags.

Slices are ordered by their position along the slice normal (ImagePositionPatient projected on
the cross product of the two ImageOrientationPatient directions), as DICOM PS3.3 C.7.6.2.1.1
defines the patient coordinate system; InstanceNumber and SliceLocation are never used (the first
is an acquisition counter, the second is optional and its sign convention varies between vendors).
A series whose slices do not form one regular grid (a missing slice, a gantry tilt, two volumes
with the same series UID) is refused rather than silently resampled.
"""
import hashlib
import os
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from radiomics_ssl.dicom.errors import DicomError, require

NON_IMAGE_MODALITIES = {"RTSTRUCT", "SEG", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG", "DOC", "OT_PDF"}
ORIENTATION_TOLERANCE = 1e-4  # direction cosines
SPACING_TOLERANCE = 1e-2  # fraction of the slice spacing a gap may deviate from the mean gap


@dataclass(frozen=True)
class Slice:
  """One 2D plane of the series: a classic single-frame file, or one frame of an enhanced file."""
  path: str
  frame: int  # -1 for a single-frame file
  position: tuple
  orientation: tuple
  pixel_spacing: tuple  # (row spacing, column spacing) as PixelSpacing stores them
  thickness: object  # SliceThickness or SpacingBetweenSlices, None when absent
  slope: float
  intercept: float
  sop_uid: str


def scan_folder(folder):
  """{SeriesInstanceUID: [(path, header), ...]} of the DICOM files directly in `folder` (headers only)."""
  pydicom = require("pydicom")
  if not os.path.isdir(folder):
    raise DicomError(f"{folder}: DICOM folder does not exist")
  found = {}
  for name in sorted(os.listdir(folder)):  # this folder only: sub-folders may hold other series
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
      continue
    try:
      header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # not DICOM (a README, a NIfTI beside the series): skipped by design
      continue
    if "SeriesInstanceUID" in header:
      found.setdefault(str(header.SeriesInstanceUID), []).append((path, header))
  return found


def choose_series(folder, series_uid=None):
  """The (uid, [(path, header)]) of the image series to read; several and no uid -> error listing each."""
  found = scan_folder(folder)
  images = {uid: files for uid, files in found.items()
            if str(files[0][1].get("Modality", "")).upper() not in NON_IMAGE_MODALITIES}
  if not found:
    raise DicomError(f"{folder}: no DICOM files in this folder")
  if not images:
    kinds = sorted({str(files[0][1].get("Modality", "?")) for files in found.values()})
    raise DicomError(f"{folder}: no DICOM image series in this folder (only {', '.join(kinds)})")
  if series_uid is not None:
    if series_uid not in images:
      raise DicomError(f"{folder}: series {series_uid} not found; {_describe(images)}")
    return series_uid, images[series_uid]
  if len(images) > 1:
    raise DicomError(f"{folder}: {len(images)} image series, choose one by SeriesInstanceUID: {_describe(images)}")
  return next(iter(images.items()))


def _describe(images):
  def one(uid, files):
    description = str(files[0][1].get("SeriesDescription", "")).strip() or "no description"
    return f"{uid} ({files[0][1].get('Modality', '?')}, {description!r}, {len(files)} file(s))"

  return "; ".join(one(uid, files) for uid, files in images.items())


def _required(dataset, keyword, path):
  value = dataset.get(keyword)
  if value is None or value == "":
    raise DicomError(f"{path}: required tag {keyword} is missing or empty")
  return value


def _functional(dataset, frame, sequence, keyword):
  """A per-frame functional group attribute of an enhanced file, falling back to the shared groups."""
  per_frame, shared = dataset.get("PerFrameFunctionalGroupsSequence"), dataset.get("SharedFunctionalGroupsSequence")
  for group in ([per_frame[frame]] if per_frame else []) + ([shared[0]] if shared else []):
    if sequence in group and group[sequence].value and keyword in group[sequence][0]:
      return group[sequence][0][keyword].value
  return None


def slices_of(files):
  """Every plane of the series' files, as Slice records (enhanced multi-frame files give one per frame)."""
  slices = []
  for path, header in files:
    if int(header.get("SamplesPerPixel", 1)) != 1:
      raise DicomError(f"{path}: SamplesPerPixel {header.SamplesPerPixel}: colour images are not supported")
    frames = int(header.get("NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" in header:
      for frame in range(frames):
        position = _functional(header, frame, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _functional(header, frame, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _functional(header, frame, "PixelMeasuresSequence", "PixelSpacing")
        for keyword, value in (("ImagePositionPatient", position), ("ImageOrientationPatient", orientation),
                               ("PixelSpacing", spacing)):
          if value is None:
            raise DicomError(f"{path}: frame {frame + 1} has no {keyword} in its functional groups")
        slope = _functional(header, frame, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _functional(header, frame, "PixelValueTransformationSequence", "RescaleIntercept")
        thickness = (_functional(header, frame, "PixelMeasuresSequence", "SpacingBetweenSlices")
                     or _functional(header, frame, "PixelMeasuresSequence", "SliceThickness"))
        slices.append(Slice(path, frame, tuple(map(float, position)), tuple(map(float, orientation)),
                            tuple(map(float, spacing)), float(thickness) if thickness else None,
                            float(slope if slope is not None else 1), float(intercept if intercept is not None else 0),
                            str(header.SOPInstanceUID)))
    else:
      if frames != 1:
        raise DicomError(f"{path}: {frames} frames without per-frame functional groups are not supported")
      thickness = header.get("SpacingBetweenSlices") or header.get("SliceThickness")
      slices.append(Slice(path, -1, tuple(map(float, _required(header, "ImagePositionPatient", path))),
                          tuple(map(float, _required(header, "ImageOrientationPatient", path))),
                          tuple(map(float, _required(header, "PixelSpacing", path))),
                          float(thickness) if thickness else None,
                          float(header.get("RescaleSlope", 1) or 1), float(header.get("RescaleIntercept", 0) or 0),
                          str(header.SOPInstanceUID)))
  return slices


def geometry(slices, where):
  """Sort `slices` along the normal and return (sorted slices, origin, spacing, direction) for SimpleITK.

  Refuses mixed orientations or pixel spacings, two slices at one position, irregular gaps and
  slices that do not stack along the normal (a gantry tilt): each would need resampling.
  """
  first = slices[0]
  for other in slices[1:]:
    if np.max(np.abs(np.subtract(other.orientation, first.orientation))) > ORIENTATION_TOLERANCE:
      raise DicomError(f"{where}: ImageOrientationPatient differs between slices ({first.path}: {first.orientation}, "
                       f"{other.path}: {other.orientation})")
    if np.max(np.abs(np.subtract(other.pixel_spacing, first.pixel_spacing))) > 1e-4:
      raise DicomError(f"{where}: PixelSpacing differs between slices ({first.pixel_spacing} vs {other.pixel_spacing})")
  row, column = np.array(first.orientation[:3]), np.array(first.orientation[3:])
  if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3 or abs(row @ column) > 1e-3:
    raise DicomError(f"{where}: ImageOrientationPatient {first.orientation} is not two orthonormal directions")
  row = row / np.linalg.norm(row)
  column = column - (column @ row) * row
  column = column / np.linalg.norm(column)
  normal = np.cross(row, column)
  distance = {id(s): float(np.dot(s.position, normal)) for s in slices}
  ordered = sorted(slices, key=lambda s: distance[id(s)])
  depths = np.array([distance[id(s)] for s in ordered])
  gaps = np.diff(depths)
  if len(ordered) == 1:
    if not first.thickness:
      raise DicomError(f"{where}: one-slice series without SliceThickness (or SpacingBetweenSlices): "
                       "the slice spacing is unknown")
    spacing_z = first.thickness
  else:
    if np.min(gaps) < 1e-3:
      index = int(np.argmin(gaps))
      raise DicomError(f"{where}: two slices at the same position ({ordered[index].path}, {ordered[index + 1].path}): "
                       "the series holds more than one volume (time frames, echoes?)")
    spacing_z = float((depths[-1] - depths[0]) / (len(ordered) - 1))
    if np.max(np.abs(gaps - spacing_z)) > SPACING_TOLERANCE * spacing_z:
      raise DicomError(f"{where}: slice spacing is not uniform (gaps from {gaps.min():.4g} to {gaps.max():.4g} mm "
                       f"along the normal; a missing slice?)")
    origin = np.array(ordered[0].position)
    shear = max(np.linalg.norm(np.array(s.position) - origin - (distance[id(s)] - depths[0]) * normal) for s in ordered)
    if shear > max(1e-2, 1e-3 * min(first.pixel_spacing)):
      raise DicomError(f"{where}: slices do not stack along their normal (in-plane offset up to {shear:.4g} mm; "
                       "gantry tilt?)")
  direction = np.column_stack([row, column, normal])
  spacing = (first.pixel_spacing[1], first.pixel_spacing[0], spacing_z)
  return ordered, tuple(ordered[0].position), spacing, tuple(direction.flatten())


def pixels(ordered, where):
  """(slices, rows, columns) float32 values after each slice's own RescaleSlope/Intercept."""
  pydicom = require("pydicom")
  datasets, planes = {}, []
  for s in ordered:
    if s.path not in datasets:
      try:
        datasets[s.path] = pydicom.dcmread(s.path).pixel_array
      except Exception as error:
        raise DicomError(f"{s.path}: cannot decode pixel data ({error})") from None
    array = datasets[s.path]
    plane = array[s.frame] if s.frame >= 0 and array.ndim == 3 else array
    planes.append(plane.astype(np.float64) * s.slope + s.intercept)
  shapes = {plane.shape for plane in planes}
  if len(shapes) != 1:
    raise DicomError(f"{where}: Rows/Columns differ between slices ({sorted(shapes)})")
  return np.stack(planes).astype(np.float32)


def read_series(folder, series_uid=None):
  """(image, headers in slice order, info) of the image series in `folder` (values after rescale)."""
  uid, files = choose_series(folder, series_uid)
  ordered, origin, spacing, direction = geometry(slices_of(files), f"{folder} (series {uid})")
  image = sitk.GetImageFromArray(pixels(ordered, f"{folder} (series {uid})"))
  image.SetOrigin(origin)
  image.SetSpacing(spacing)
  image.SetDirection(direction)
  headers = dict(files)
  first = files[0][1]
  info = {"Folder": os.path.abspath(folder), "SeriesInstanceUID": uid, "Modality": str(first.get("Modality", "")),
          "SeriesDescription": str(first.get("SeriesDescription", "")),
          "FrameOfReferenceUID": str(first.FrameOfReferenceUID) if "FrameOfReferenceUID" in first else None,
          "Files": len(files), "SOPInstanceUIDs": [s.sop_uid for s in ordered],
          "SliceFiles": [os.path.relpath(s.path, folder) for s in ordered]}
  return image, [headers[s.path] for s in ordered], info


def fingerprint(path, series_uid=None):
  """sha256 over the sorted relative names and bytes of the series' files (or of one file).

  A resume or provenance key that changes when any file of the series changes, is renamed or
  goes missing, and does not depend on the folder's location.
  """
  digest = hashlib.sha256()
  if os.path.isfile(path):
    names, base = [os.path.basename(path)], os.path.dirname(path)
  else:
    _, files = choose_series(path, series_uid)
    base = path
    names = sorted(os.path.relpath(name, path) for name, _ in files)
  for name in names:
    digest.update(name.replace(os.sep, "/").encode() + b"\0")
    with open(os.path.join(base, name), "rb") as stream:
      data = stream.read()
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)
  return digest.hexdigest()
