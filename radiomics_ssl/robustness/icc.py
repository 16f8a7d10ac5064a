"""ICC(1,1): the one-way random-effects, single-measurement intraclass correlation of Shrout &
Fleiss (1979), with its 95% confidence interval from the F distribution (McGraw & Wong 1996,
Case 1). Zwanenburg et al. (2019) score each feature's robustness by it: the cases are the
subjects, the perturbations of a case its repeated measurements.

  ICC(1,1) = (BMS - WMS) / (BMS + (k - 1) WMS)

BMS is the between-subjects mean square, WMS the within-subject mean square, k the number of
measurements per subject.
"""
import numpy as np
from scipy import stats


def icc_1_1(values, alpha=0.05):
  """values: (n subjects, k measurements) -> (ICC, CI low, CI high); NaN when undefined (fewer than 2
  subjects or measurements, a NaN value, or no variance at all)."""
  values = np.asarray(values, dtype=np.float64)
  n, k = values.shape
  if n < 2 or k < 2 or not np.isfinite(values).all():
    return np.nan, np.nan, np.nan
  subject_means = values.mean(axis=1)
  bms = k * np.sum((subject_means - values.mean()) ** 2) / (n - 1)
  wms = np.sum((values - subject_means[:, None]) ** 2) / (n * (k - 1))
  if bms + (k - 1) * wms == 0:
    return np.nan, np.nan, np.nan
  icc = (bms - wms) / (bms + (k - 1) * wms)
  if wms == 0:
    return 1.0, 1.0, 1.0
  f = bms / wms
  f_low = f / stats.f.ppf(1 - alpha / 2, n - 1, n * (k - 1))
  f_high = f * stats.f.ppf(1 - alpha / 2, n * (k - 1), n - 1)
  return float(icc), float((f_low - 1) / (f_low + k - 1)), float((f_high - 1) / (f_high + k - 1))
