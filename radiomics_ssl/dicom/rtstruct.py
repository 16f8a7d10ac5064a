"""An RTSTRUCT ROI -> a binary mask on the image's own grid, rasterised here.

Why not rt-utils (1.2.7, read for this): it puts a contour on the slice whose SOPInstanceUID the
contour's ContourImageSequence names, not where its coordinates lie; it rounds every vertex to a
whole pixel before filling; and it needs OpenCV, whose `fillPoly` fill rule (not DICOM's) decides
what a contour inside another becomes. Even-odd is what DICOM's CLOSEDPLANAR_XOR contour type
specifies, and the usual reading of an inner CLOSED_PLANAR contour: a hole.
Here every contour is placed by its physical coordinates through the image's origin, spacing and
direction, must lie on one of the image's slice planes, and contours on one plane combine by
even-odd (XOR): a pixel belongs to the ROI when its centre lies inside an odd number of contours.

A tolerance of *half* a slice spacing, as is sometimes quoted, would accept every contour (any
point is within half a spacing of its nearest plane); the tolerance here is PLANE_TOLERANCE of a
slice spacing, which allows rounded coordinates but refuses a contour drawn between planes (for
example on a CT of another slice spacing).
"""
import logging

import numpy as np

from radiomics_ssl.dicom.choice import choose
from radiomics_ssl.dicom.errors import DicomError

PLANE_TOLERANCE = 0.1  # fraction of the slice spacing a contour may lie off its plane
FILLED_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")

logger = logging.getLogger(__name__)


def roi_names(dataset):
  """{ROINumber: ROIName} of the structure set."""
  return {int(item.ROINumber): str(item.get("ROIName", "")).strip()
          for item in dataset.get("StructureSetROISequence", [])}


def choose_roi(dataset, path, roi=None, number=None):
  """(ROINumber, ROIName): by exact name (case-insensitive), else by number, else the only ROI."""
  return choose(roi_names(dataset), path, roi, number, "ROI", "the structure set")


def check_references(dataset, path, number, image_info):
  """Refuse a structure set that cannot be placed on this image; returns notes on what was accepted.

  The frame of reference decides, because contours are placed by their physical coordinates:
  - same FrameOfReferenceUID: accepted. A structure set drawn on another series of that frame
    (contours drawn on the CT of a PET/CT, or, in the STS data, on the original PET before it was
    re-exported as SUV under new UIDs) is placed by position, and a note names the series it was
    drawn on; every contour must still lie on this image's slice planes.
  - the structure set names this very series (RTReferencedSeriesSequence): every image it lists must
    be in the folder, else it is refused naming the missing SOPInstanceUIDs (an incomplete series).
    Then a different FrameOfReferenceUID is accepted with a note: old rt-utils wrote a fresh
    FrameOfReferenceUID into every structure set it created (qurit/rt-utils issue #29, fixed by
    PR #65), and the series reference identifies the grid unambiguously.
  - otherwise a different frame of reference is refused, naming both UIDs.
  """
  notes = []
  image_for, image_series = image_info.get("FrameOfReferenceUID"), image_info["SeriesInstanceUID"]
  frames = list(dataset.get("ReferencedFrameOfReferenceSequence", []))
  roi_item = next(item for item in dataset.StructureSetROISequence if int(item.ROINumber) == number)
  struct_fors = ({str(roi_item.ReferencedFrameOfReferenceUID)} if roi_item.get("ReferencedFrameOfReferenceUID")
                 else set())
  struct_fors |= {str(item.FrameOfReferenceUID) for item in frames if item.get("FrameOfReferenceUID")}
  series, images = set(), set()
  for frame in frames:
    for study in frame.get("RTReferencedStudySequence", []):
      for item in study.get("RTReferencedSeriesSequence", []):
        series.add(str(item.SeriesInstanceUID))
        if str(item.SeriesInstanceUID) == image_series:
          images |= {str(i.ReferencedSOPInstanceUID) for i in item.get("ContourImageSequence", [])}
  other_fors = sorted(uid for uid in struct_fors if uid != image_for)
  if image_series in series:
    for contour in _roi_contour(dataset, number).get("ContourSequence", []):
      images |= {str(i.ReferencedSOPInstanceUID) for i in contour.get("ContourImageSequence", [])}
    missing = sorted(images - set(image_info.get("SOPInstanceUIDs", [])))
    if missing:
      raise DicomError(f"{path}: structure set references {len(missing)} image(s) of series {image_series} that are "
                       f"not in the image folder: {', '.join(missing)}")
    if other_fors:
      notes.append(f"FrameOfReferenceUID {', '.join(other_fors)} differs from the image's {image_for}; accepted "
                   f"because the structure set references this series {image_series} and only its images")
  elif other_fors or not struct_fors:
    raise DicomError(f"{path}: structure set FrameOfReferenceUID {', '.join(other_fors) or 'missing'} differs from "
                     f"the image's {image_for}" + (f" (it references series {', '.join(sorted(series))}, the image "
                                                    f"is series {image_series})" if series else ""))
  elif series:
    notes.append(f"drawn on series {', '.join(sorted(series))}; placed by physical position on series {image_series} "
                 f"(same FrameOfReferenceUID {image_for})")
  for note in notes:  # recorded in the row (diagnostics_DICOM_Notes)
    logger.info("%s: %s", path, note)
  return notes


def _roi_contour(dataset, number):
  for item in dataset.get("ROIContourSequence", []):
    if int(item.ReferencedROINumber) == number:
      return item
  return {}


def rasterise(dataset, path, image, image_info, roi=None, number=None):
  """(mask array z,y,x uint8, info) of one ROI of the structure set `dataset` on `image`'s grid."""
  from matplotlib.path import Path

  number, name = choose_roi(dataset, path, roi, number)
  notes = check_references(dataset, path, number, image_info)
  size = image.GetSize()
  spacing = np.array(image.GetSpacing())
  to_index = np.linalg.inv(np.array(image.GetDirection()).reshape(3, 3) @ np.diag(spacing))
  origin = np.array(image.GetOrigin())
  planes, ignored = {}, {}
  for contour in _roi_contour(dataset, number).get("ContourSequence", []):
    kind = str(contour.get("ContourGeometricType", "")).upper()
    if kind not in FILLED_TYPES:
      ignored[kind] = ignored.get(kind, 0) + 1
      continue
    points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
    index = (points - origin) @ to_index.T
    plane = int(np.rint(np.mean(index[:, 2])))
    offset = float(np.max(np.abs(index[:, 2] - plane)) * spacing[2])
    if offset > PLANE_TOLERANCE * spacing[2]:
      raise DicomError(f"{path}: ROI {name!r} has a contour {offset:.3g} mm off the image's slice planes "
                       f"(tolerance {PLANE_TOLERANCE * spacing[2]:.3g} mm; slice spacing {spacing[2]:.4g} mm)")
    if not 0 <= plane < size[2]:  # more than half a slice beyond the first or last plane: a mask one slice short
      first, last = (float((origin + np.array(image.GetDirection()).reshape(3, 3) @ (spacing * [0, 0, k]))[2])
                     for k in (0, size[2] - 1))
      raise DicomError(f"{path}: ROI {name!r} has a contour at z = {float(np.mean(points[:, 2])):.4g} mm, beyond the "
                       f"image's {size[2]} slice(s) (z = {first:.4g} to {last:.4g} mm): the structure set does not fit "
                       "this series")
    planes.setdefault(plane, []).append(index[:, :2])
  if ignored:
    notes.append(f"ignored contours (not closed planar): {ignored}")
  if not planes:
    raise DicomError(f"{path}: ROI {name!r} is empty: no closed planar contour on the image's slices")
  mask = np.zeros(size[::-1], dtype=bool)
  for plane, polygons in planes.items():
    for polygon in polygons:
      low = np.maximum(np.floor(polygon.min(axis=0)).astype(int), 0)
      high = np.minimum(np.ceil(polygon.max(axis=0)).astype(int), np.array(size[:2]) - 1)
      if np.any(high < low):
        continue
      columns, rows = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1))
      ring = np.vstack([polygon, polygon[:1]])  # closed=True drops the last vertex: repeat the first
      inside = Path(ring, closed=True).contains_points(np.column_stack([columns.ravel(), rows.ravel()]))
      mask[plane, low[1]:high[1] + 1, low[0]:high[0] + 1] ^= inside.reshape(columns.shape)  # even-odd
  if not mask.any():
    raise DicomError(f"{path}: ROI {name!r} is empty on the image's grid (contours enclose no voxel centre)")
  info = {"ROI": name, "ROINumber": number, "ContourPlanes": len(planes)}
  if notes:
    info["Notes"] = notes
  return mask.astype(np.uint8), info
