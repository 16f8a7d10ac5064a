"""Which cases each iteration trains on: epoch-ordered batches or RE/SE candidate draws.

All randomness comes from one `torch.Generator`, whose state is checkpointed with the
current epoch order, so a resumed run draws exactly what an uninterrupted run would.
"""
import math

import torch


class CaseSchedule:

  def __init__(self, n_cases, generator):
    self.n_cases = n_cases
    self.generator = generator
    self.order = torch.randperm(n_cases, generator=generator)
    self.position = 0

  def warmup_iterations(self, epochs, batch_size):
    """The paper's warm-up: `epochs` epochs of plain 3DSiam at `batch_size`."""
    return epochs * math.ceil(self.n_cases / batch_size)

  def next_batch(self, batch_size):
    """The next `batch_size` cases of the epoch order; a new order starts when too few remain."""
    if self.position + batch_size > self.n_cases:
      self.order = torch.randperm(self.n_cases, generator=self.generator)
      self.position = 0
    batch = self.order[self.position:self.position + batch_size]
    self.position += batch_size
    return batch.numpy()

  def candidates(self, n):
    """N distinct cases for the RE/SE module (all cases when fewer than N exist)."""
    return torch.randperm(self.n_cases, generator=self.generator)[:min(n, self.n_cases)].numpy()

  def state_dict(self):
    return {"order": self.order.clone(), "position": self.position, "generator": self.generator.get_state()}

  def load_state_dict(self, state):
    self.order, self.position = state["order"].clone(), int(state["position"])
    self.generator.set_state(state["generator"])
