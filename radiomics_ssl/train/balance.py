"""The RE/SE module of Section 2: k-means on the current encoder's features, then either
re-weighting (RE) or balanced selection (SE). Labels are never used."""
import numpy as np
from sklearn.cluster import KMeans


def kmeans(features, k, seed):
  """Cluster (N, d) features into k groups -> (labels, centroids); deterministic for a seed."""
  model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(np.asarray(features, dtype=np.float64))
  return model.labels_, model.cluster_centers_


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
