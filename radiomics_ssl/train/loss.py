"""Eq. 1-2: the symmetrised negative cosine similarity of 3DSiam, with per-sample weights."""
import torch
import torch.nn.functional as F


def negative_cosine(t, r):
  """Eq. 1, per sample: S(t, r) = -(t / ||t||) . (r / ||r||)."""
  return -(F.normalize(t, dim=1) * F.normalize(r, dim=1)).sum(dim=1)


def siam_loss(t1, t2, r1, r2, weights=None, total_weight=None):
  """Eq. 2: L = S(t1, r2)/2 + S(t2, r1)/2, averaged as sum(w * l) / sum(w).

  `total_weight` replaces this batch's sum(w) (or its size, without weights): data-parallel
  ranks hold a share of the global batch and divide by the global total.

  r1 and r2 come from the frozen branch E_f and must already be detached (Siam3d does so):
  "the encoder E_f on x_2 receives no gradient from r_2 in the first term".
  """
  per_sample = 0.5 * negative_cosine(t1, r2) + 0.5 * negative_cosine(t2, r1)
  if weights is None and total_weight is None:
    return per_sample.mean()
  weights = torch.ones_like(per_sample) if weights is None else torch.as_tensor(weights, dtype=per_sample.dtype,
                                                                                 device=per_sample.device)
  return (weights * per_sample).sum() / (weights.sum() if total_weight is None else total_weight)


def variance_covariance(e, gamma=1.0, eps=1e-4):
  """VICReg's regularisers (Bardes et al. 2022, Eq. 1 and 3) on a batch of features e (n x d):
  the variance term, mean over dimensions of max(0, gamma - std), keeps every dimension spread
  across the batch; the covariance term, the sum of squared off-diagonal covariances / d, keeps
  dimensions from carrying the same information. -> (variance term, covariance term)."""
  std = torch.sqrt(e.var(dim=0) + eps)
  variance = F.relu(gamma - std).mean()
  centred = e - e.mean(dim=0)
  cov = centred.T @ centred / (len(e) - 1)
  off_diagonal = cov - torch.diag(torch.diagonal(cov))
  return variance, off_diagonal.pow(2).sum() / e.shape[1]


def collapse_std(r):
  """Mean per-dimension std of L2-normalised outputs: ~1/sqrt(d) when healthy, 0 when collapsed (SimSiam [8])."""
  return F.normalize(r.float(), dim=1).std(dim=0).mean()
