"""One preprocessing implementation for training and extraction, driven by a `Contract`.

Input: a SimpleITK image and mask on the same grid: the whole image, or any part of it that holds
the ROI (pyradiomics' tight crop included). Output: a cubic box of `contract.box` voxels at
`contract.spacing_mm`, centred on the ROI, intensities mapped to [0, 255] (Section 3, "Datasets
and preprocessing"). With `context: crop` the box holds the ROI's tight bounding box, filled beyond
it, whatever the caller cropped (the values of every contract written before `context` existed);
with `context: cube` it holds the real image of the given image around the ROI, so the caller must
give more than the tight crop.
"""
import itertools
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from radiomics_ssl.units import roi_percentiles

KERNEL_REACH = 17  # voxels beyond a sampled region that the anti-aliasing kernel (at most 32 wide) reads


@dataclass
class PreparedRoi:
  """What the encoder receives for one ROI, and how it was made (for the QA report and provenance)."""
  boxes: np.ndarray      # float32 (tiles, box, box, box), values in [0, 255]; one tile for the 'box' layout
  rois: np.ndarray       # uint8, same shape, 1 inside the ROI
  weights: np.ndarray    # float64 (tiles,): ROI voxels per tile, the pooling weights
  spacing_mm: float      # the boxes' spacing (larger than the contract's after 'resize')
  window: tuple          # (low, high) image values mapped to 0 and 255
  fit: str               # 'whole' (the ROI fits), 'cropped', 'resized' or 'tiled'
  roi_percentiles: tuple  # the 1st, 50th and 99th percentiles of the ROI's image values (QA: their units)
  roi_extent_mm: float   # the ROI's largest bounding-box side
  roi_channel: bool = False  # the encoder's input holds the ROI as a second channel
  coverage: float = 1.0  # share of the first box inside the given image (the rest is fill)

  @property
  def inputs(self):
    """The encoder's input, float32 (tiles, channels, box, box, box): the box, and the ROI as 0 or 255."""
    if not self.roi_channel:
      return self.boxes[:, None]
    return np.stack([self.boxes, self.rois.astype(np.float32) * np.float32(255.0)], axis=1)

  @property
  def box(self):
    return self.boxes[0]

  @property
  def roi(self):
    return self.rois[0]

  @property
  def field_of_view_mm(self):
    return self.boxes.shape[-1] * self.spacing_mm


class RoiError(ValueError):
  """An image/mask pair the encoder must not see; `role` says which file is at fault."""

  def __init__(self, role, message):
    super().__init__(message)
    self.role = role


def check_roi(image, mask, label, correct_mask=False):
  """Refuse inputs that would give garbage features: not 3D, a mask on another grid (unless
  pyradiomics' `correctMask` will resample it), label absent, NaN or inf in the ROI."""
  for role, item in (("image", image), ("mask", mask)):
    if item.GetDimension() != 3:
      raise RoiError(role, f"{role} is {item.GetDimension()}D; 3D volumes are required")
  if image.GetSize() != mask.GetSize() and not correct_mask:
    raise RoiError("mask", f"image/mask geometry mismatch: mask size {list(mask.GetSize())} vs image size "
                           f"{list(image.GetSize())} (pyradiomics' correctMask setting resamples the mask)")
  labels = sitk.GetArrayViewFromImage(mask)
  in_roi = labels == label
  if not in_roi.any():
    raise RoiError("mask", f"label {label} is absent from the mask (labels present: {np.unique(labels).tolist()[:10]})")
  if image.GetSize() == mask.GetSize():  # else pyradiomics resamples the mask first (correctMask)
    values = sitk.GetArrayViewFromImage(image)[in_roi]
    bad = np.count_nonzero(~np.isfinite(values)) if values.dtype.kind == "f" else 0
    if bad:
      raise RoiError("image", f"{bad} NaN or infinite voxel(s) inside the ROI (label {label})")
  return in_roi


def prepare_roi(image, mask, label, contract, size=None):
  """Resample the ROI of `label` into the contract's box(es). Raises ValueError on unusable input.

  `size` (training only) asks for a larger cubic region at the same spacing, from which the
  trainer cuts its views; the spacing and the window still follow from `contract.box`.
  """
  in_roi = check_roi(image, mask, label)
  values = sitk.GetArrayViewFromImage(image)[in_roi].astype(np.float64)
  lo, hi = _roi_bounds(in_roi)
  extent_mm = (hi - lo + 1) * np.array(image.GetSpacing())
  spacing = contract.spacing_mm
  if contract.large_roi == "resize" and contract.layout == "box":
    spacing = max(spacing, float(extent_mm.max()) / contract.box)
  size = size or contract.box
  centres = _tile_centres(lo, hi, extent_mm, spacing * contract.box, contract.layout)
  source, source_roi, offset = _source(image, in_roi, mask, lo, hi, contract, centres[0], spacing * size)
  smoothed = _anti_alias(sitk.Cast(source, sitk.sitkFloat32), spacing)
  boxes, rois, weights = _sample(smoothed, source_roi, _points(source, centres, offset), spacing, size)
  if not weights.any() and contract.layout == "box":  # a non-convex ROI (a mandible) may miss its bounding box's centre
    centres = [_nearest_roi_voxel(in_roi, centres[0], image.GetSpacing())]
    boxes, rois, weights = _sample(smoothed, source_roi, _points(source, centres, offset), spacing, size)
  if not weights.any():
    raise ValueError(f"the ROI is smaller than one voxel of the contract's {spacing:g} mm grid; "
                     "use weights with a finer contract spacing")
  window = _intensity_window(values, image, centres[0], contract)
  keep = weights > 0  # tiles that hold no ROI voxel carry no pooling weight
  boxes, rois = np.stack(boxes)[keep], np.stack(rois)[keep].astype(np.uint8)
  coverage = float(np.isfinite(_centre(boxes[0], contract.box)).mean())
  low, high = window
  boxes = (np.clip((boxes - low) / (high - low), 0.0, 1.0) * 255.0).astype(np.float32)
  boxes[np.isnan(boxes)] = 0.0  # outside the given image: the window's low value, as a fill of `low` gave
  if contract.mask_background:
    boxes[rois == 0] = 0.0
  fit = ("tiled" if contract.layout == "tiles" else "resized" if spacing > contract.spacing_mm
         else "whole" if extent_mm.max() <= contract.box * spacing else "cropped")
  return PreparedRoi(boxes=boxes, rois=rois, weights=weights[keep], spacing_mm=spacing, window=window, fit=fit,
                     roi_percentiles=roi_percentiles(values), roi_extent_mm=float(extent_mm.max()),
                     roi_channel=contract.roi_channel, coverage=coverage)


def _source(image, in_roi, mask, lo, hi, contract, centre, region_mm):
  """-> (image, ROI as uint8, index of its first voxel in the given image): the part of the given
  image that the boxes are sampled from: the ROI's
  tight bounding box ('crop', as pyradiomics crops), or the region's cube plus the anti-aliasing
  kernel's reach ('cube'; refused when the given image is itself the tight crop)."""
  size = np.array(image.GetSize())
  if contract.context == "crop":
    low, high = lo, hi
  else:
    if (lo == 0).all() and (hi == size - 1).all() and \
            np.any(size * np.array(image.GetSpacing()) < contract.box * contract.spacing_mm):
      raise ValueError("context 'cube' needs the image around the ROI, not the ROI's tight bounding-box crop "
                       "(give prepare_roi the image from before pyradiomics' crop)")
    reach = region_mm / 2.0 / np.array(image.GetSpacing()) + 1 + KERNEL_REACH
    low = np.maximum(np.floor(np.asarray(centre) - reach), 0).astype(int)
    high = np.minimum(np.ceil(np.asarray(centre) + reach), size - 1).astype(int)
  roi_image = sitk.GetImageFromArray(in_roi.astype(np.uint8))
  roi_image.CopyInformation(mask)
  if (low == 0).all() and (high == size - 1).all():
    return image, roi_image, low
  extent, start = (high - low + 1).tolist(), [int(v) for v in low]
  return sitk.RegionOfInterest(image, extent, start), sitk.RegionOfInterest(roi_image, extent, start), low


def _points(source, centres, offset):
  """Physical points of continuous (x, y, z) indices of the given image, computed on the source
  (whose first voxel is `offset`), so that a given crop and the full image give the same points."""
  return [source.TransformContinuousIndexToPhysicalPoint((np.asarray(c, float) - offset).tolist()) for c in centres]


def _centre(box, side):
  """The central side^3 voxels of a cubic region."""
  start = (box.shape[-1] - side) // 2
  return box[start:start + side, start:start + side, start:start + side]


def _intensity_window(roi_values, image, centre, contract):
  """The [low, high] range mapped to [0, 255]; a flat region gets a unit-wide window. A 'cube'
  percentile window is taken over the given image's own voxels (not resampled) whose centres lie
  in the box's cube around `centre` (a continuous index of the image), so that it does not depend
  on the region size, on the contour, or on how much image beyond the cube the caller gave."""
  if contract.intensity == "percentile" and contract.window_region == "cube":
    low, high = np.percentile(_cube_values(image, centre, contract.box * contract.spacing_mm), contract.window)
  elif contract.intensity == "percentile":
    low, high = np.percentile(roi_values, contract.window)
  else:
    low, high = contract.window
  if high <= low:
    high = low + 1.0
  return float(low), float(high)


def _cube_values(image, centre, side_mm):
  """The image's voxel values within side_mm / 2 of `centre` along each of its axes, as float64."""
  half = side_mm / 2.0 / np.array(image.GetSpacing())
  low = np.maximum(np.ceil(np.asarray(centre) - half), 0).astype(int)
  high = np.minimum(np.floor(np.asarray(centre) + half), np.array(image.GetSize()) - 1).astype(int)
  array = sitk.GetArrayViewFromImage(image)  # (z, y, x)
  return array[low[2]:high[2] + 1, low[1]:high[1] + 1, low[0]:high[0] + 1].astype(np.float64).ravel()


def _roi_bounds(in_roi):
  """The ROI's bounding box as (x, y, z) index corners."""
  indices = np.argwhere(in_roi)  # (z, y, x)
  return indices.min(axis=0)[::-1], indices.max(axis=0)[::-1]


def _tile_centres(lo, hi, extent_mm, tile_mm, layout):
  """Continuous (x, y, z) indices of the box centres: the ROI's bounding-box centre, or for 'tiles'
  ceil(extent / tile) centres per axis spread evenly over the bounding box."""
  if layout == "box":
    return [(lo + hi) / 2.0]
  counts = np.maximum(1, np.ceil(extent_mm / tile_mm - 1e-6)).astype(int)
  size = hi - lo + 1
  axes = [lo[a] - 0.5 + (np.arange(counts[a]) + 0.5) * size[a] / counts[a] for a in range(3)]
  return [np.array(point) for point in itertools.product(*axes)]


def _nearest_roi_voxel(in_roi, centre, voxel_spacing):
  """The (x, y, z) index of the ROI voxel nearest (in mm) to a continuous (x, y, z) index."""
  indices = np.argwhere(in_roi)[:, ::-1]
  distances = np.linalg.norm((indices - np.asarray(centre)) * np.asarray(voxel_spacing), axis=1)
  return indices[np.argmin(distances)].astype(float)


def _sample(image, roi_image, points, spacing, size):
  """The image and ROI boxes around each physical point, and each box's ROI voxel count; image
  voxels outside the given image are NaN (the window's low value once mapped)."""
  boxes, rois = [], []
  for point in points:
    grid = _grid(image, point, spacing, size)
    rois.append(sitk.GetArrayFromImage(_resample(roi_image, grid, sitk.sitkNearestNeighbor, 0)))
    boxes.append(sitk.GetArrayFromImage(_resample(image, grid, sitk.sitkLinear, np.nan)))
  return boxes, rois, np.array([roi.sum() for roi in rois], dtype=np.float64)


def _grid(image, point, spacing, size):
  """A reference image of `size`^3 voxels at `spacing`, in the image's orientation, centred on a
  physical point."""
  centre = np.array(point)
  direction = np.array(image.GetDirection()).reshape(3, 3)
  origin = centre - direction @ np.full(3, (size - 1) / 2.0 * spacing)
  grid = sitk.Image([size] * 3, sitk.sitkUInt8)
  grid.SetSpacing([spacing] * 3)
  grid.SetDirection(image.GetDirection())
  grid.SetOrigin(origin.tolist())
  return grid


def _anti_alias(image, spacing):
  """Gaussian pre-filter on axes that are downsampled (sigma = (factor - 1) / 2 input voxels)."""
  variance = [(max(spacing / s - 1.0, 0.0) / 2.0 * s) ** 2 for s in image.GetSpacing()]
  if max(variance) == 0.0:
    return image
  return sitk.DiscreteGaussian(image, variance, 32, 0.01, True)


def _resample(image, grid, interpolator, default):
  return sitk.Resample(image, grid, sitk.Transform(), interpolator, float(default), image.GetPixelID())
