"""How varied a case x feature matrix is: the collapse check shared by training, validation and tests."""
import numpy as np


def effective_rank(singular_values):
  """RankMe (Garrido et al., 2023): exp of the entropy of the normalised singular values of the centred
  case x feature matrix. ~1 for a collapsed encoder, up to min(cases, features)."""
  singular = np.asarray(singular_values, dtype=np.float64)
  p = singular[singular > 0] / singular.sum()
  return float(np.exp(-(p * np.log(p)).sum()))  # a constant matrix: 1


def feature_diversity(matrix):
  """(share of feature dimensions that vary across cases, effective rank). A collapsed encoder gives ~0 and ~1."""
  matrix = np.asarray(matrix, dtype=np.float64)
  varies = matrix.std(axis=0) > 1e-6 * (np.abs(matrix).mean() + 1e-12)
  return float(varies.mean()), effective_rank(np.linalg.svd(matrix - matrix.mean(axis=0), compute_uv=False))
