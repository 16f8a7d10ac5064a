import numpy as np
import pytest
import torch

from radiomics_ssl.train.balance import farthest_pair, kmeans, re_weights, se_select


def clustered(sizes, centres, spread=0.05, seed=0):
  rng = np.random.default_rng(seed)
  features = np.concatenate([c + spread * rng.normal(size=(n, len(c))) for n, c in zip(sizes, centres)])
  truth = np.repeat(np.arange(len(sizes)), sizes)
  return features, truth


def test_re_weights_are_n_over_cluster_frequency_rescaled_to_min_one():
  labels = np.array([0] * 15 + [1] * 10 + [2] * 5)
  weights = re_weights(labels, 3)
  # N/f = 30/15, 30/10, 30/5 = 2, 3, 6 -> divided by the minimum 2 -> 1, 1.5, 3
  np.testing.assert_array_equal(weights, np.array([1.0] * 15 + [1.5] * 10 + [3.0] * 5))
  assert weights.min() == 1.0


def test_re_weights_on_kmeans_of_constructed_clusters():
  features, truth = clustered([20, 8, 2], [np.zeros(4), np.full(4, 5.0), np.full(4, -5.0)])
  labels, _ = kmeans(features, 3, seed=0)
  weights = re_weights(labels, 3)
  expected = {20: 1.0, 8: 2.5, 2: 10.0}
  for cluster in range(3):
    members = labels == cluster
    assert np.all(weights[members] == expected[members.sum()])


def test_kmeans_is_deterministic_for_a_seed():
  features, _ = clustered([10, 10, 10], [np.zeros(8), np.ones(8), -np.ones(8)], spread=0.8)
  first, second = kmeans(features, 3, seed=7), kmeans(features, 3, seed=7)
  np.testing.assert_array_equal(first[0], second[0])
  np.testing.assert_array_equal(first[1], second[1])


def test_farthest_pair_of_centroids():
  centroids = np.array([[0.0, 0.0], [1.0, 0.0], [-4.0, 3.0], [0.5, 0.5]])
  assert farthest_pair(centroids) == (1, 2)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_se_selects_distinct_samples_only_from_the_two_farthest_clusters(m):
  features, _ = clustered([12, 10, 8], [np.zeros(3), np.array([1.0, 0, 0]), np.array([9.0, 0, 0])])
  labels, centroids = kmeans(features, 3, seed=0)
  chosen = se_select(features, labels, centroids, m)
  pair = farthest_pair(centroids)
  assert len(chosen) == m and len(set(chosen.tolist())) == m
  assert set(labels[chosen]) == set(pair)
  assert [np.sum(labels[chosen] == c) for c in pair] == [m // 2, m // 2]


def test_se_picks_the_members_nearest_each_centroid():
  features = np.array([[0.0], [0.1], [0.5], [10.0], [10.2], [9.0]])
  labels = np.array([0, 0, 0, 1, 1, 1])
  centroids = np.array([[0.0], [10.0]])
  assert sorted(se_select(features, labels, centroids, 4).tolist()) == [0, 1, 3, 4]


def test_se_small_cluster_rule_fills_from_the_other_selected_cluster():
  features = np.array([[0.0], [0.2], [0.4], [0.6], [0.8], [20.0], [5.0], [5.1]])
  labels = np.array([0, 0, 0, 0, 0, 1, 2, 2])
  centroids = np.array([[0.4], [20.0], [5.05]])
  chosen = se_select(features, labels, centroids, 6)
  assert len(set(chosen.tolist())) == 6
  assert set(labels[chosen]) == {0, 1}  # only the farthest pair (0, 1), though cluster 1 has one member


def test_se_on_collapsed_features_still_selects_distinct_samples():
  features = np.ones((30, 8))
  labels, centroids = kmeans(features, 3, seed=0)
  chosen = se_select(features, labels, centroids, 6)
  assert len(set(chosen.tolist())) == 6
  assert farthest_pair(np.zeros((3, 2)))[0] != farthest_pair(np.zeros((3, 2)))[1]


def test_feature_bank_fills_once_then_refreshes_round_robin():
  from radiomics_ssl.train.bank import FeatureBank

  version = {"value": 0}
  calls = []

  def encode(indices):  # feature = 100 * encoder version + case index
    calls.append(list(indices))
    return torch.from_numpy(np.stack([np.full(2, 100.0 * version["value"] + i) for i in indices]))

  bank = FeatureBank(n_cases=5, per_step=2)
  bank.update(encode, iteration=10, chunk=2)
  assert calls == [[0, 1], [2, 3], [4]]  # the fill runs in chunks
  version["value"] = 1
  bank.update(encode, iteration=11, chunk=2)
  bank.update(encode, iteration=12, chunk=2)
  bank.update(encode, iteration=13, chunk=2)
  assert calls[3:] == [[0, 1], [2, 3], [4, 0]]  # wraps around
  features, age = bank.lookup(np.array([0, 4]), iteration=13)
  np.testing.assert_array_equal(features[:, 0], [100.0, 104.0])
  assert age == 0.0
  assert bank.lookup(np.array([1]), iteration=13)[1] == 2.0

  restored = FeatureBank(n_cases=5, per_step=2)
  restored.load_state_dict(bank.state_dict(), "cpu")
  np.testing.assert_array_equal(restored.features, bank.features)
  assert restored.cursor == bank.cursor == 1
