"""One preprocessing implementation for training and extraction, driven by a `Contract`.

Input: the SimpleITK image and mask as a pyradiomics feature class receives them (the tight
bounding-box crop, after any pyradiomics resampling or normalisation). Output: a cubic box of
`contract.box` voxels at `contract.spacing_mm`, centred on the ROI, padded with background,
intensities mapped to [0, 255] (Section 3, "Datasets and preprocessing").
"""
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk


@dataclass
class PreparedRoi:
  box: np.ndarray        # float32 (box, box, box), values in [0, 255]
  roi: np.ndarray        # uint8 (box, box, box), 1 inside the ROI
  spacing_mm: float      # the box's actual spacing (larger than the contract's after 'resize')


class RoiError(ValueError):
  """An image/mask pair the encoder must not see; `role` says which file is at fault."""

  def __init__(self, role, message):
    super().__init__(message)
    self.role = role


def check_roi(image, mask, label):
  """Refuse inputs that would give garbage features: not 3D, label absent, NaN or inf in the ROI."""
  for role, item in (("image", image), ("mask", mask)):
    if item.GetDimension() != 3:
      raise RoiError(role, f"{role} is {item.GetDimension()}D; 3D volumes are required")
  labels = sitk.GetArrayViewFromImage(mask)
  in_roi = labels == label
  if not in_roi.any():
    raise RoiError("mask", f"label {label} is absent from the mask (labels present: {np.unique(labels).tolist()[:10]})")
  if image.GetSize() == mask.GetSize():  # else pyradiomics reports the geometry mismatch
    values = sitk.GetArrayViewFromImage(image)[in_roi]
    bad = np.count_nonzero(~np.isfinite(values)) if values.dtype.kind == "f" else 0
    if bad:
      raise RoiError("image", f"{bad} NaN or infinite voxel(s) inside the ROI (label {label})")
  return in_roi


def prepare_roi(image, mask, label, contract):
  """Resample the ROI of `label` into the contract's box. Raises ValueError on unusable input."""
  in_roi = check_roi(image, mask, label)
  low, high = _intensity_window(sitk.GetArrayViewFromImage(image)[in_roi].astype(np.float64), contract)

  roi_image = sitk.GetImageFromArray(in_roi.astype(np.uint8))
  roi_image.CopyInformation(mask)
  spacing, grid = _output_grid(image, in_roi, contract)
  smoothed = _anti_alias(sitk.Cast(image, sitk.sitkFloat32), spacing)
  box = sitk.GetArrayFromImage(_resample(smoothed, grid, sitk.sitkLinear, low))
  roi = sitk.GetArrayFromImage(_resample(roi_image, grid, sitk.sitkNearestNeighbor, 0))
  if not roi.any():
    raise ValueError(f"the ROI is smaller than one voxel of the contract's {spacing:g} mm grid; "
                     "use weights with a finer contract spacing")

  box = (np.clip((box - low) / (high - low), 0.0, 1.0) * 255.0).astype(np.float32)
  if contract.mask_background:
    box[roi == 0] = 0.0
  return PreparedRoi(box=box, roi=roi.astype(np.uint8), spacing_mm=spacing)


def _intensity_window(roi_values, contract):
  """The [low, high] range mapped to [0, 255]; a flat ROI gets a unit-wide window."""
  if contract.intensity == "percentile":
    low, high = np.percentile(roi_values, contract.window)
  else:
    low, high = contract.window
  if high <= low:
    high = low + 1.0
  return float(low), float(high)


def _output_grid(image, in_roi, contract):
  """Spacing and a reference image for the box, centred on the ROI's bounding box."""
  indices = np.argwhere(in_roi)  # (z, y, x)
  lo, hi = indices.min(axis=0)[::-1], indices.max(axis=0)[::-1]  # -> (x, y, z)
  extent_mm = (hi - lo + 1) * np.array(image.GetSpacing())
  spacing = contract.spacing_mm
  if contract.large_roi == "resize":
    spacing = max(spacing, float(extent_mm.max()) / contract.box)
  centre = np.array(image.TransformContinuousIndexToPhysicalPoint(((lo + hi) / 2.0).tolist()))
  direction = np.array(image.GetDirection()).reshape(3, 3)
  origin = centre - direction @ np.full(3, (contract.box - 1) / 2.0 * spacing)
  grid = sitk.Image([contract.box] * 3, sitk.sitkUInt8)
  grid.SetSpacing([spacing] * 3)
  grid.SetDirection(image.GetDirection())
  grid.SetOrigin(origin.tolist())
  return spacing, grid


def _anti_alias(image, spacing):
  """Gaussian pre-filter on axes that are downsampled (sigma = (factor - 1) / 2 input voxels)."""
  variance = [(max(spacing / s - 1.0, 0.0) / 2.0 * s) ** 2 for s in image.GetSpacing()]
  if max(variance) == 0.0:
    return image
  return sitk.DiscreteGaussian(image, variance, 32, 0.01, True)


def _resample(image, grid, interpolator, default):
  return sitk.Resample(image, grid, sitk.Transform(), interpolator, float(default), image.GetPixelID())
