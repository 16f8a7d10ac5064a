"""A feature bank for the RE/SE module: every case's features by the current encoder.

The paper encodes N = k*q candidates with the current encoder at every iteration, which costs
about as much as the training step itself (measured: +90% per iteration at 48^3 on CPU). The
bank encodes every case once, when balancing starts, then re-encodes `per_step` cases per
iteration in round-robin order (eval mode, no gradient, un-augmented boxes: the same features
the paper clusters). Candidates are looked up, so an entry is at most n_cases / per_step
iterations old. `balance_features: fresh` in TrainConfig keeps the paper's per-iteration pass.
The features stay on the training device, where the k-means runs.
"""
import numpy as np
import torch


class FeatureBank:

  def __init__(self, n_cases, per_step):
    self.n_cases, self.per_step = n_cases, per_step
    self.features = None  # (n_cases, d) float64 tensor on the training device, filled on first use
    self.updated = np.full(n_cases, -1, dtype=np.int64)  # iteration of each entry's last encoding
    self.cursor = 0

  def update(self, encode, iteration, chunk):
    """Fill the bank on first use, else re-encode the next `per_step` cases. `encode(indices)` returns
    a float64 tensor of their features."""
    if self.features is None:
      indices = np.arange(self.n_cases)
      self.features = torch.cat([encode(indices[i:i + chunk]) for i in range(0, self.n_cases, chunk)])
    else:
      indices = (self.cursor + np.arange(min(self.per_step, self.n_cases))) % self.n_cases
      self.cursor = int((self.cursor + len(indices)) % self.n_cases)
      if len(indices):
        self.features[torch.as_tensor(indices, device=self.features.device)] = encode(indices)
    self.updated[indices] = iteration

  def lookup(self, indices, iteration):
    """-> (features of `indices` on the device, their mean age in iterations)."""
    return self.features[torch.as_tensor(indices, device=self.features.device)], \
      float(np.mean(iteration - self.updated[indices]))

  def state_dict(self):
    return {"features": self.features.cpu() if self.features is not None else torch.empty(0),
            "updated": torch.from_numpy(self.updated), "cursor": self.cursor}

  def load_state_dict(self, state, device):
    self.features = state["features"].to(device) if state["features"].numel() else None
    self.updated, self.cursor = state["updated"].numpy().copy(), int(state["cursor"])
