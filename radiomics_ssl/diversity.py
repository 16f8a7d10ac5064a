"""How varied a case x feature matrix is: the collapse check shared by training, validation and tests."""
import numpy as np


def feature_diversity(matrix):
  """(share of feature dimensions that vary across cases, effective rank of the centred case x feature
  matrix: exp of the entropy of its normalised singular values). A collapsed encoder gives ~0 and ~1."""
  matrix = np.asarray(matrix, dtype=np.float64)
  varies = matrix.std(axis=0) > 1e-6 * (np.abs(matrix).mean() + 1e-12)
  singular = np.linalg.svd(matrix - matrix.mean(axis=0), compute_uv=False)
  p = singular[singular > 0] / singular.sum()
  return float(varies.mean()), float(np.exp(-(p * np.log(p)).sum()))
