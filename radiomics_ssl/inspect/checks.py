"""Per-case warnings of the QA report: the mistakes that give plausible-looking numbers.

- the ROI is far larger than the box's field of view (the encoder sees a fraction of it);
- the intensity window clips most of the ROI's voxels;
- the contract's modality does not match the image's apparent units (e.g. PET weights on HU);
- the case's features are nearly constant.
The units test is radiomics_ssl.units, the rule extraction and the trainer apply too.
"""
import numpy as np

from radiomics_ssl.units import modality_mismatch

LARGE_ROI_RATIO = 2.0  # ROI extent / field of view
CLIPPED_SHARE = 0.5  # share of ROI voxels at 0 or 255 in the box
FLAT_FEATURES = 0.1  # a case's feature std below this share of the cohort's median per-case std


def case_warnings(prepared, contract, features=None, cohort_feature_std=None):
  """The warnings of one case: `prepared` is what the encoder received, `features` its ssl vector."""
  warnings = []
  if prepared.roi_extent_mm > LARGE_ROI_RATIO * prepared.field_of_view_mm and prepared.fit == "cropped":
    warnings.append(f"the ROI spans {prepared.roi_extent_mm:.0f} mm, {prepared.roi_extent_mm / prepared.field_of_view_mm:.1f}x "
                    f"the box's {prepared.field_of_view_mm:.0f} mm field of view: the encoder sees its centre only")
  inside = prepared.rois.astype(bool)
  clipped = float(np.mean((prepared.boxes[inside] <= 0) | (prepared.boxes[inside] >= 255))) if inside.any() else 0.0
  if clipped > CLIPPED_SHARE:
    warnings.append(f"the intensity window [{prepared.window[0]:.4g}, {prepared.window[1]:.4g}] clips "
                    f"{100 * clipped:.0f}% of the ROI's voxels")
  mismatch = modality_mismatch(contract.modality, prepared.roi_percentiles)
  if mismatch:
    warnings.append(mismatch)
  if features is not None and cohort_feature_std and np.std(features) < FLAT_FEATURES * cohort_feature_std:
    warnings.append(f"the ssl features are nearly constant (std {np.std(features):.3g} against the cohort's median "
                    f"{cohort_feature_std:.3g})")
  return warnings
