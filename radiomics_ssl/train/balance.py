"""The RE/SE module of Section 2: k-means on the current encoder's features, then either
re-weighting (RE) or balanced selection (SE). Labels are never used.

k-means runs in torch on the features' device (the training device), so on a GPU the module
costs a few small kernels instead of a round trip to scikit-learn on the CPU.
"""
import numpy as np
import torch


def kmeans(features, k, seed, n_init=10, iterations=50):
  """Cluster (N, d) features (numpy or a torch tensor on any device) into k groups -> (labels,
  centroids) as numpy; deterministic for a seed. k-means++ seeding and Lloyd's iterations, for
  `n_init` seedings at once; the seeding with the lowest inertia wins (as scikit-learn's KMeans)."""
  x = torch.as_tensor(features).to(torch.float64)
  n = len(x)
  generator = torch.Generator().manual_seed(seed)  # every random draw on the CPU: the same on any device
  centres = x[torch.randint(n, (n_init,), generator=generator).to(x.device)][:, None]  # (n_init, 1, d)
  for _ in range(1, k):
    nearest = _squared_distances(x, centres).min(dim=2).values  # (n_init, N)
    weights = torch.where(nearest.sum(1, keepdim=True) > 0, nearest, torch.ones_like(nearest))  # duplicates: uniform
    cumulative = (weights / weights.sum(1, keepdim=True)).cumsum(1)
    draws = torch.rand(n_init, 1, generator=generator, dtype=torch.float64).to(x.device)
    chosen = torch.searchsorted(cumulative, draws).clamp(max=n - 1)[:, 0]
    centres = torch.cat([centres, x[chosen][:, None]], dim=1)
  for _ in range(iterations):
    labels = _squared_distances(x, centres).argmin(dim=2)  # (n_init, N)
    members = torch.nn.functional.one_hot(labels, k).to(x.dtype)  # (n_init, N, k)
    counts = members.sum(dim=1)[..., None]
    centres = torch.where(counts > 0, members.transpose(1, 2) @ x / counts.clamp(min=1), centres)  # empty: kept
  distances = _squared_distances(x, centres)
  best = int(distances.min(dim=2).values.sum(dim=1).argmin())
  return distances[best].argmin(dim=1).cpu().numpy(), centres[best].cpu().numpy()


def _squared_distances(x, centres):
  """(N, d) points, (R, k, d) centres -> (R, N, k) squared Euclidean distances, computed exactly."""
  return ((x[None, :, None, :] - centres[:, None, :, :]) ** 2).sum(dim=-1)


def re_weights(labels, k):
  """RE: "for each sample x_i^j which belongs to cluster j, we assign it a weight of N/f_j ...
  re-scaling to guarantee the minimum weight is 1 for each input batch"."""
  labels = np.asarray(labels)
  counts = np.bincount(labels, minlength=k).astype(np.float64)
  weights = len(labels) / counts[labels]
  return weights / weights.min()


def farthest_pair(centroids):
  """Indices (i, j) of the two centroids with the largest Euclidean distance."""
  centroids = np.asarray(centroids)
  distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
  np.fill_diagonal(distances, -np.inf)  # two distinct clusters, even when collapsed features tie at 0
  i, j = np.unravel_index(np.argmax(distances), distances.shape)
  return int(min(i, j)), int(max(i, j))


def se_select(features, labels, centroids, m):
  """SE: the m/2 members nearest to each of the two farthest-apart centroids -> m distinct indices.

  Rule for small clusters: a cluster with fewer than m/2 members gives all of them, and the
  remaining members of the two selected clusters fill the gap, nearest to either of the two
  centroids first. Only if the two clusters together hold fewer than m samples are the
  remaining slots filled from all candidates, in the same order.
  """
  features, labels = np.asarray(features), np.asarray(labels)
  pair = farthest_pair(centroids)
  half = m // 2
  chosen = []
  for cluster in pair:
    members = np.flatnonzero(labels == cluster)
    order = members[np.argsort(np.linalg.norm(features[members] - centroids[cluster], axis=1), kind="stable")]
    chosen.extend(order[:half].tolist())
  pool = [np.flatnonzero(np.isin(labels, pair)), np.arange(len(labels))]
  for candidates in pool:
    if len(chosen) >= m:
      break
    distance = np.min([np.linalg.norm(features[candidates] - centroids[c], axis=1) for c in pair], axis=0)
    for index in candidates[np.argsort(distance, kind="stable")]:
      if len(chosen) == m:
        break
      if index not in chosen:
        chosen.append(int(index))
  return np.array(chosen[:m], dtype=np.int64)
