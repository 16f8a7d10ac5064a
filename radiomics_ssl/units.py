"""Do an image's intensities look like the units a contract expects? One rule for every place the
encoder runs: extraction (a warning per case and the `diagnostics_ssl_Units` column), the trainer
(`--modality` against the cases) and the QA report.

The rule is a heuristic on the ROI's 1st, 50th and 99th percentiles:
- PET weights expect SUV: non-negative and small (p1 >= -0.5, p99 <= 100, p50 < 20);
- CT weights expect HU: an ROI whose values look like SUV (as above, and p99 <= 60) is not CT;
- MR weights are relative, but p1 below -500 looks like CT with air (pyradiomics' MR
  normalisation, z-scores x 100, stays above that).
It is silenced by `sslUnitsCheck: false` (extraction) or `--no-units-check` (trainer), for users
who know their images are right.
"""
import numpy as np

UNCHECKED = "not checked (sslUnitsCheck: false)"


def looks_like_suv(p1, p50, p99):
  return p1 >= -0.5 and p99 <= 100 and p50 < 20


def modality_mismatch(contract_modality, roi_percentiles):
  """A warning when the ROI's values (p1, p50, p99) look like another modality's units, else None."""
  p1, p50, p99 = roi_percentiles
  if contract_modality == "PET" and not looks_like_suv(p1, p50, p99):
    seen = "HU (CT)" if p1 < -100 else "unscaled intensities (not SUV)"
  elif contract_modality == "CT" and looks_like_suv(p1, p50, p99) and p99 <= 60:
    seen = "SUV (PET)"
  elif contract_modality == "MR" and p1 < -500:
    seen = "HU (CT)"
  else:
    return None
  return (f"the weights expect {contract_modality} images, but the ROI's values look like {seen}: "
          f"1st/50th/99th percentiles {p1:.4g} / {p50:.4g} / {p99:.4g}")


def roi_percentiles(values):
  """(p1, p50, p99) of an ROI's intensity values: what the rule looks at."""
  return tuple(np.percentile(np.asarray(values, dtype=np.float64), (1, 50, 99)).tolist())


def image_roi_percentiles(image, mask, label):
  """roi_percentiles of the voxels of SimpleITK `image` where `mask` is `label` (same grid)."""
  import SimpleITK as sitk

  return roi_percentiles(sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == label])


def diagnostic(contract_modality, percentiles, enabled=True):
  """-> (the `diagnostics_ssl_Units` value, the warning or None) for one ROI."""
  if not enabled:
    return UNCHECKED, None
  warning = modality_mismatch(contract_modality, percentiles)
  if warning:
    return warning, warning
  return (f"consistent with {contract_modality}" if contract_modality != "any" else "any modality"), None


def unset_modality_warning(source, weights):
  """The warning for a parameter file that sets no sslModality and runs weights made for one, or None."""
  modality = weights.contract.modality
  if modality == "any":
    return None
  return (f"{source}: sslModality is not set, so the {weights.name} weights (a {modality} contract, "
          f"{weights.contract.intensity} window {list(weights.contract.window)}) run on any image without "
          f"a modality check; add `sslModality: {modality}` to the parameter file (params/ssl_{modality.lower()}.yaml does)")
