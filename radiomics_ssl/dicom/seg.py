"""A DICOM-SEG segment -> a binary mask on the image's own grid.

highdicom reads and validates the SEG (and unpacks 1-bit frames, which need not start on a byte
boundary: dcmqi's 23x38 phantom). Each frame of the chosen segment is then placed on the image
grid by its own PlanePositionSequence in physical space (the image's origin, spacing, direction),
or, for a SEG without plane positions, by the source image its DerivationImageSequence names.
Segments may overlap; only the chosen one is read, so overlapping segments stay separate ROIs.
"""
import numpy as np

from radiomics_ssl.dicom.choice import choose
from radiomics_ssl.dicom.errors import DicomError, require

GRID_TOLERANCE = 0.1  # fraction of a voxel a frame's position may lie off the image grid


def read(path):
  """The SEG as a highdicom Segmentation (errors name the file)."""
  highdicom = require("highdicom")
  try:
    return highdicom.seg.segread(path)
  except Exception as error:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise DicomError(f"{path}: cannot read DICOM-SEG ({reason})") from None


def segments(seg):
  """{SegmentNumber: SegmentLabel}."""
  return {int(item.SegmentNumber): str(item.get("SegmentLabel", "")).strip() for item in seg.SegmentSequence}


def choose_segment(seg, path, roi=None, number=None):
  """(number, label): by SegmentLabel (case-insensitive), else by number, else the only segment."""
  return choose(segments(seg), path, roi, number, "segment", "the SEG")


def check_references(seg, path, image_info):
  """Refuse a SEG that cannot be placed on this image, as rtstruct.check_references does; returns notes.

  Same FrameOfReferenceUID: accepted (frames are placed by their physical plane positions; a note
  names the series the SEG was made on when it is another one). Another frame of reference: refused,
  naming both UIDs, unless the SEG references this very series and only its images.
  """
  image_for, image_series = image_info.get("FrameOfReferenceUID"), image_info["SeriesInstanceUID"]
  seg_for = str(seg.get("FrameOfReferenceUID", "")) or None
  series = {str(item.SeriesInstanceUID):
              {str(i.ReferencedSOPInstanceUID) for i in item.get("ReferencedInstanceSequence", [])}
            for item in seg.get("ReferencedSeriesSequence", [])}
  if seg_for == image_for and seg_for is not None:
    if series and image_series not in series:
      return [f"made on series {', '.join(sorted(series))}; placed by physical position on series {image_series} "
              f"(same FrameOfReferenceUID {image_for})"]
    return []
  if image_series in series and series[image_series] <= set(image_info.get("SOPInstanceUIDs", [])):
    return [f"FrameOfReferenceUID {seg_for} differs from the image's {image_for}; accepted because the SEG "
            f"references this series {image_series} and only its images"]
  raise DicomError(f"{path}: SEG FrameOfReferenceUID {seg_for} differs from the image's {image_for}"
                   + (f" (it references series {', '.join(sorted(series))}, the image is series {image_series})"
                      if series else ""))


def _group(seg, frame, sequence):
  per_frame, shared = seg.get("PerFrameFunctionalGroupsSequence"), seg.get("SharedFunctionalGroupsSequence")
  for group in ([per_frame[frame]] if per_frame else []) + ([shared[0]] if shared else []):
    if sequence in group and group[sequence].value:
      return group[sequence][0]
  return None


def _frame_mask(seg, pixels, frame, number):
  kind = str(seg.SegmentationType).upper()
  if kind == "LABELMAP":
    return pixels[frame] == number
  if kind == "FRACTIONAL":  # occupancy or probability: the voxel is in when at least half
    return pixels[frame] >= 0.5 * float(seg.MaximumFractionalValue)
  return pixels[frame] > 0


def _frame_segment(seg, frame):
  item = _group(seg, frame, "SegmentIdentificationSequence")
  return int(item.ReferencedSegmentNumber) if item is not None else None


def rasterise(seg, path, image, image_info, roi=None, number=None):
  """(mask array z,y,x uint8, info) of one segment of `seg` on `image`'s grid."""
  number, label = choose_segment(seg, path, roi, number)
  notes = check_references(seg, path, image_info)
  size = np.array(image.GetSize())
  spacing = np.array(image.GetSpacing())
  direction = np.array(image.GetDirection()).reshape(3, 3)
  to_index = np.linalg.inv(direction @ np.diag(spacing))
  origin = np.array(image.GetOrigin())
  pixels = np.asarray(seg.pixel_array)
  if pixels.ndim == 2:
    pixels = pixels[None]
  rows, columns = int(seg.Rows), int(seg.Columns)
  sop_index = {uid: k for k, uid in enumerate(image_info.get("SOPInstanceUIDs", []))}
  mask = np.zeros(size[::-1], dtype=bool)
  placed = 0
  for frame in range(pixels.shape[0]):
    if str(seg.SegmentationType).upper() != "LABELMAP" and _frame_segment(seg, frame) != number:
      continue
    placed += 1
    orientation = _group(seg, frame, "PlaneOrientationSequence")
    measures = _group(seg, frame, "PixelMeasuresSequence")
    position = _group(seg, frame, "PlanePositionSequence")
    if orientation is not None and np.max(np.abs(np.subtract(
        np.asarray(orientation.ImageOrientationPatient, float), np.r_[direction[:, 0], direction[:, 1]]))) > 1e-3:
      raise DicomError(f"{path}: SEG frame {frame + 1} orientation {list(orientation.ImageOrientationPatient)} differs "
                       "from the image's (resampling a SEG is not supported)")
    if measures is not None and np.max(np.abs(np.subtract(np.asarray(measures.PixelSpacing, float)[::-1],
                                                          spacing[:2]))) > 1e-3 * spacing[:2].min():
      raise DicomError(f"{path}: SEG frame {frame + 1} PixelSpacing {list(measures.PixelSpacing)} differs from the "
                       f"image's {list(spacing[1::-1])}")
    if position is not None:
      index = to_index @ (np.asarray(position.ImagePositionPatient, float) - origin)
      if np.max(np.abs(index - np.rint(index))) > GRID_TOLERANCE:
        raise DicomError(f"{path}: SEG frame {frame + 1} at {list(position.ImagePositionPatient)} is off the image "
                         f"grid (index {np.round(index, 3).tolist()})")
      i, j, k = (int(v) for v in np.rint(index))
    else:
      derivation = _group(seg, frame, "DerivationImageSequence")
      sources = [str(s.ReferencedSOPInstanceUID) for s in (derivation.get("SourceImageSequence", [])
                                                           if derivation is not None else [])]
      known = [sop_index[uid] for uid in sources if uid in sop_index]
      if len(image_info.get("SOPInstanceUIDs", [])) != len(sop_index):
        known = []  # an enhanced image: one SOPInstanceUID for all frames, no slice to map to
      if not known:
        raise DicomError(f"{path}: SEG frame {frame + 1} has neither a plane position nor a source image in the series")
      i, j, k = 0, 0, known[0]
    frame_mask = _frame_mask(seg, pixels, frame, number)
    window = frame_mask[max(0, -j):min(rows, size[1] - j), max(0, -i):min(columns, size[0] - i)]
    if not 0 <= k < size[2] or window.sum() != frame_mask.sum():
      if frame_mask.any():
        raise DicomError(f"{path}: segment {number} ({label!r}) frame {frame + 1} lies partly outside the image")
      continue
    mask[k, max(0, j):max(0, j) + window.shape[0], max(0, i):max(0, i) + window.shape[1]] |= window
  if not mask.any():
    raise DicomError(f"{path}: segment {number} ({label!r}) is empty on the image's grid ({placed} frame(s))")
  info = {"SegmentNumber": number, "ROI": label, "SegmentFrames": placed}
  if notes:
    info["Notes"] = notes
  return mask.astype(np.uint8), info
