"""ICC(1,1) against Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges."""
import numpy as np
import pytest

from radiomics_ssl.robustness.icc import icc_1_1

SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_the_published_worked_example():
  """Table 4 of Shrout & Fleiss gives ICC(1,1) = .17 for these data (BMS 11.24, WMS 6.26)."""
  icc, low, high = icc_1_1(SHROUT_FLEISS)
  assert round(icc, 2) == 0.17
  assert icc == pytest.approx((11.2417 - 6.2639) / (11.2417 + 3 * 6.2639), abs=1e-4)
  assert low < icc < high and -0.2 < low < 0.0 and 0.6 < high < 0.8  # wide: 6 targets


def test_identical_measurements_are_perfectly_reliable_and_pure_noise_is_not():
  rng = np.random.default_rng(0)
  subjects = rng.normal(size=(50, 1))
  assert icc_1_1(np.repeat(subjects, 5, axis=1))[0] == 1.0
  assert abs(icc_1_1(rng.normal(size=(200, 5)))[0]) < 0.05
  noisy = subjects + rng.normal(scale=1.0, size=(50, 5))  # equal between and within variance: ICC about 0.5
  icc, low, high = icc_1_1(noisy)
  assert low < 0.5 < high and 0.35 < icc < 0.65


def test_undefined_cases_are_nan():
  assert np.isnan(icc_1_1(np.ones((10, 3)))[0])
  assert np.isnan(icc_1_1([[1.0, np.nan], [2.0, 3.0]])[0])
  assert np.isnan(icc_1_1([[1.0, 2.0]])[0])
