"""The collapse guard: the effective rank (RankMe) of the encoder's features during training.

Every `rank_every` iterations the encoder (eval mode, un-augmented centred boxes) encodes a fixed
set of up to `rank_cases` cases, and the effective rank of those features is compared with the
untrained encoder's on the same cases (measured before the first step):
- below `rank_warn` x that reference the run warns, once per fall;
- below `rank_floor` x at two measurements in a row it stops with `TrainingCollapsed`, and no
  weights are written (a collapsed encoder gives 1-4 where an untrained one gives ~35);
- the encoder of the highest-rank measurement in the run's second half (or the last one) is
  kept, for `export: best_rank`. The second half only: an untrained encoder has a high rank too.
The loss cannot show collapse: SimSiam's loss reaches -1 on a collapsed encoder.
"""
import logging

import numpy as np
import torch

from radiomics_ssl.diversity import effective_rank

logger = logging.getLogger(__name__)


class TrainingCollapsed(RuntimeError):
  pass


class RankMonitor:

  def __init__(self, config, n_cases):
    self.config = config
    order = torch.randperm(n_cases, generator=torch.Generator().manual_seed(config.seed))  # its own generator
    self.cases = np.sort(order[:min(config.rank_cases, n_cases)].numpy())
    self.reference = None  # the untrained encoder's rank on `cases`
    self.best = None  # (iteration, rank, encoder state on the CPU) of the best second-half measurement
    self.below_floor = 0
    self.warned = False

  def due(self, iteration):
    return self.scheduled(iteration) or iteration == self.config.iterations

  def scheduled(self, iteration):
    return iteration % self.config.rank_every == 0

  def measure(self, encode):
    """Effective rank of `encode(indices)` (a float64 tensor) over the monitored cases."""
    chunk = max(self.config.batch_size, 16)
    features = torch.cat([encode(self.cases[i:i + chunk]) for i in range(0, len(self.cases), chunk)])
    return effective_rank(torch.linalg.svdvals(features - features.mean(dim=0)).cpu().numpy())

  def observe(self, iteration, rank, encoder, out_dir):
    """Record a measurement; warns, keeps the best encoder, or raises TrainingCollapsed.

    Only measurements on the `rank_every` grid change the monitor's state, so that a run resumed
    to a longer total ends exactly as an uninterrupted one; the extra measurement at a run's last
    iteration can still stop it (after a grid measurement below the floor) and competes at export."""
    if self.reference is None:
      self.reference = rank
      return
    ratio = rank / self.reference
    below = self.below_floor + 1 if ratio < self.config.rank_floor else 0
    if self.scheduled(iteration):
      if iteration * 2 >= self.config.iterations and (self.best is None or rank > self.best[1]):
        self.best = (iteration, rank, {name: value.detach().cpu().clone() for name, value in encoder.state_dict().items()})
      self.below_floor = below
    if below >= 2:
      raise TrainingCollapsed(
        f"the encoder collapsed: the effective rank of its features over {len(self.cases)} cases is {rank:.1f} at "
        f"iteration {iteration}, below the floor of {self.config.rank_floor:g} x the untrained encoder's "
        f"{self.reference:.1f} at two measurements in a row. No weights were written. Lower the learning rate "
        f"(optimizer {self.config.optimizer}, lr {self.config.lr:g}) or keep the default recipe; the curves are in "
        f"{out_dir}.")
    if ratio < self.config.rank_warn and not self.warned:
      logger.warning("COLLAPSE WARNING: effective rank %.1f at iteration %d is %.0f%% of the untrained encoder's "
                     "%.1f (warning below %.0f%%, stop below %.0f%%)", rank, iteration, 100 * ratio, self.reference,
                     100 * self.config.rank_warn, 100 * self.config.rank_floor)
    if self.scheduled(iteration):
      self.warned = ratio < self.config.rank_warn

  def exported(self, iteration, rank, state):
    """(iteration, rank, encoder state) to export under `best_rank`: the best grid measurement of the
    second half, or the last state when it ranks as high (or nothing was measured on the grid)."""
    if self.best is None or rank >= self.best[1]:
      return iteration, rank, state
    return self.best

  def state_dict(self):
    best = None if self.best is None else {"iteration": self.best[0], "rank": self.best[1], "encoder": self.best[2]}
    return {"reference": self.reference, "best": best, "below_floor": self.below_floor, "warned": self.warned}

  def load_state_dict(self, state):
    self.reference, self.below_floor, self.warned = state["reference"], state["below_floor"], state["warned"]
    best = state["best"]
    self.best = None if best is None else (best["iteration"], best["rank"], best["encoder"])
