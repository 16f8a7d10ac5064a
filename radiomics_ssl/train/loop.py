"""The training loop: case selection (with the RE/SE module), views, the method's step, monitoring.

Schedule (Section 3): one warm-up epoch at batch size 6; then, with RE or SE, every iteration
clusters N = k*q candidate cases with k-means on their features by the current encoder (looked up
in a FeatureBank, or encoded afresh), and either re-weights them (RE, the batch is all N) or
reduces them to m balanced samples (SE). What is optimised is the pretext method's business
(train/methods.py); the collapse guard is train/monitor.py; the run's files are train/runfiles.py.
"""
import json
import math
import os
import time

import numpy as np
import torch

from radiomics_ssl.model import encoder_for
from radiomics_ssl.train import augment, balance, distributed, runfiles
from radiomics_ssl.train.bank import FeatureBank
from radiomics_ssl.train.loss import collapse_std
from radiomics_ssl.train.methods import Batch, build_method
from radiomics_ssl.train.monitor import RankMonitor
from radiomics_ssl.train.schedule import CaseSchedule
from radiomics_ssl.train.views import Regions


class TrainingDiverged(RuntimeError):
  pass


def build_optimizer(config, net, fixed_lr_parameters):
  """SGD with momentum (SimSiam's) or Adam (the paper's); parameters in `fixed_lr_parameters` keep the
  base lr under a decaying schedule."""
  fixed = {id(p) for p in fixed_lr_parameters}
  groups = [{"params": [p for p in net.parameters() if id(p) not in fixed], "fixed_lr": False}]
  if fixed:
    groups.append({"params": list(fixed_lr_parameters), "fixed_lr": True})
  if config.optimizer == "sgd":
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
  return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


def learning_rate(config, iteration):
  """The lr of the step after `iteration` steps: constant, or cosine decay to 0 over the run."""
  if config.lr_schedule == "constant":
    return config.lr
  return config.lr * 0.5 * (1.0 + math.cos(math.pi * iteration / config.iterations))


class Trainer:
  """Holds the model, optimiser and schedule; `run()` trains to `config.iterations`.

  boxes: (cases, R, R, R) regions around each ROI, R = augment.region_size(box, augment.context),
  or train.views.Regions (versions of each region, and the ROI channel); each view is a box-sized
  window of its region.
  """

  def __init__(self, config, boxes, out_dir, data_summary, command="", device=None):
    if len(boxes) < max(config.batch_size, config.m if config.balance == "se" else 2):
      raise ValueError(f"{len(boxes)} usable case(s); training needs at least batch_size={config.batch_size}")
    region = augment.region_size(config.contract.box, config.augment.context)
    self.regions = boxes if isinstance(boxes, Regions) else Regions.of_boxes(np.asarray(boxes))
    if self.regions.images.shape[2:] != (region,) * 3:
      raise ValueError(f"boxes of shape {tuple(self.regions.images.shape[2:])}; this config cuts its views from "
                       f"{region}^3 regions")
    self.config, self.out_dir, self.data_summary, self.command = config, out_dir, data_summary, command
    self.device = device or distributed.init_from_env(config.device)
    # channels-last on CPU only (measured: oneDNN's channels-last conv backward is ~1% off float64
    # gradients, contiguous 0.1%); DDP runs contiguous so that they match a 1-process contiguous run
    self.channels_last = config.channels_last and self.device.type == "cpu" and distributed.world_size() == 1
    self.method = build_method(config)
    torch.manual_seed(config.seed)
    self.model = self.method.build(encoder_for(config.contract)).to(self.device)
    if self.channels_last:
      self.model = self.model.to(memory_format=torch.channels_last_3d)
    self.net = self.model  # what the step calls: the model itself, or its DDP wrapper under torchrun
    if distributed.world_size() > 1:
      distributed.globalise_batchnorm(self.model)
      self.net = torch.nn.parallel.DistributedDataParallel(
        self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
    self.is_main = distributed.rank() == 0
    balanced_batch = {"se": config.m, "re": config.n_candidates}.get(config.balance, config.batch_size)
    if min(config.batch_size, balanced_batch) < distributed.world_size():
      raise ValueError(f"a batch of {min(config.batch_size, balanced_batch)} cannot be shared by "
                       f"{distributed.world_size()} processes")
    self.optimizer = build_optimizer(config, self.model, self.method.fixed_lr_parameters(self.model))
    self.schedule = CaseSchedule(len(boxes), torch.Generator().manual_seed(config.seed))
    self.warmup = self.schedule.warmup_iterations(config.warmup_epochs, config.batch_size)
    self.bank = FeatureBank(len(boxes), config.bank_refresh)
    self.monitor = RankMonitor(config, len(boxes))
    self.iteration = 0
    os.makedirs(out_dir, exist_ok=True)

  # -- one iteration -----------------------------------------------------------------------
  def _layout(self, x):
    return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x

  def _regions(self, indices, versions=None):
    return self.regions.inputs(indices, versions).to(self.device)

  def _encode(self, indices):
    """Features of the cases' centred boxes by the current encoder (eval mode): what extraction sees."""
    self.model.eval()
    with torch.no_grad():
      x = self._layout(augment.centre_crop(self._regions(indices), self.config.contract.box))
      features = self.model.encoder(x).double()
    self.model.train()
    return features

  def _select(self):
    """-> (case indices, per-sample weights or None, monitoring record)."""
    cfg = self.config
    if cfg.balance == "none" or self.iteration < self.warmup:
      return self.schedule.next_batch(cfg.batch_size), None, {}
    candidates = self.schedule.candidates(cfg.n_candidates)
    if cfg.balance_features == "fresh":
      features, monitor = self._encode(candidates), {}
    else:
      self.bank.update(self._encode, self.iteration, chunk=cfg.batch_size)
      features, age = self.bank.lookup(candidates, self.iteration)
      monitor = {"bank_age": age}
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=self.schedule.generator))
    labels, centroids = balance.kmeans(features, cfg.k, seed)
    monitor["clusters"] = np.bincount(labels, minlength=cfg.k).tolist()
    if cfg.balance == "re":
      return candidates, balance.re_weights(labels, cfg.k), monitor
    return candidates[balance.se_select(features.cpu().numpy(), labels, centroids, cfg.m)], None, monitor

  def step(self):
    """Train one iteration; returns its metrics."""
    timings = {}
    start = time.perf_counter()
    indices, sample_weights, monitor = self._select()
    timings["balance_s"] = time.perf_counter() - start
    mark = time.perf_counter()
    share = distributed.shard(len(indices))  # every rank draws the global batch's parameters, keeps its share
    versions = self.regions.draw_versions(len(indices), self.schedule.generator)  # one perturbed version per view
    views = []
    for view in range(self.method.views):
      x = self._regions(indices[share], None if versions is None else versions[view % 2][share])
      params = augment.sample_params(len(indices), self.config.augment, self.schedule.generator, self.device)
      views.append(self._layout(augment.apply(x, {name: value[share] for name, value in params.items()},
                                              self.config.contract.box)))
    timings["augment_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    batch = Batch(indices, sample_weights, share, self.schedule.generator, self._layout)
    loss, objective, outputs, extra = self.method.loss(self.net, views, batch)
    if not torch.isfinite(loss):
      raise TrainingDiverged(f"loss is {loss.item()} at iteration {self.iteration + 1}; stopping. The last good "
                             f"checkpoint is {os.path.join(self.out_dir, runfiles.CHECKPOINT_NAME)} (if one was written)")
    lr = learning_rate(self.config, self.iteration)
    for group in self.optimizer.param_groups:
      group["lr"] = self.config.lr if group["fixed_lr"] else lr
    self.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    self.optimizer.step()
    timings["step_s"] = time.perf_counter() - mark
    self.iteration += 1
    return {
      "iteration": self.iteration, "phase": "warmup" if self.iteration <= self.warmup else self.config.balance,
      "loss": loss.item(), "collapse_std": collapse_std(outputs).item(), "lr": lr, **extra,
      "batch": len(indices), "cases": [int(i) for i in indices], "clusters": None, **monitor, **timings,
    }

  def _watch_rank(self, record=None):
    """Measure the effective rank when due; the collapse guard may stop the run (on every rank)."""
    if record is not None and not self.monitor.due(self.iteration):
      return
    rank = self.monitor.measure(self._encode)
    failure = None
    try:
      self.monitor.observe(self.iteration, rank, self.model.encoder, self.out_dir)
    except RuntimeError as collapse:
      failure = collapse
    if not distributed.agree(failure is None):
      raise failure or RuntimeError("another process detected a collapse (see its message)")
    if record is not None:
      record["rank"] = rank

  # -- checkpoints -------------------------------------------------------------------------
  def save_checkpoint(self):
    """The main process writes atomically; every process learns whether that worked."""
    error = None
    if self.is_main:
      state = {"iteration": self.iteration, "model": self.model.state_dict(),
               "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
               "bank": self.bank.state_dict(), "monitor": self.monitor.state_dict(),
               "config": json.dumps(self.config.to_dict(), sort_keys=True),
               "cases_sha256": self.data_summary.get("cases_sha256", "")}
      try:
        runfiles.save_checkpoint(self.out_dir, state)
      except OSError as failure:
        error = failure
    if not distributed.agree(error is None):
      raise error or RuntimeError("the main process could not write the checkpoint (see its message)")

  def load_checkpoint(self):
    state = runfiles.load_checkpoint(self.out_dir, self.config, self.data_summary.get("cases_sha256", ""))
    self.model.load_state_dict(state["model"])
    self.optimizer.load_state_dict(state["optimizer"])
    self.schedule.load_state_dict(state["schedule"])
    self.bank.load_state_dict(state["bank"], self.device)
    self.monitor.load_state_dict(state["monitor"])
    self.iteration = int(state["iteration"])
    return self.iteration

  # -- the run -----------------------------------------------------------------------------
  def run(self, resume=False, progress=None):
    """Train to `config.iterations`; returns the weights file path."""
    history = runfiles.read_metrics(self.out_dir, self.load_checkpoint()) if resume else []  # refuses a mismatch first
    if self.is_main:
      runfiles.write_config(self.out_dir, self.config)
    if not self.method.trains:
      return self.export([], 0.0)
    if self.monitor.reference is None:
      self._watch_rank()  # the untrained encoder's rank: the collapse guard's reference
    bar = None
    if self.is_main:
      runfiles.write_metrics(self.out_dir, history)
      if progress:
        bar = progress(total=self.config.iterations, initial=self.iteration, desc=self.config.method, unit="it")
    started = time.perf_counter()
    metrics_file = open(os.path.join(self.out_dir, runfiles.METRICS_NAME), "a") if self.is_main else None
    try:
      while self.iteration < self.config.iterations:
        record = self.step()
        self._watch_rank(record)
        history.append(record)
        if metrics_file:
          metrics_file.write(json.dumps(record) + "\n")
          metrics_file.flush()
        if self.iteration % self.config.checkpoint_every == 0 or self.iteration == self.config.iterations:
          self.save_checkpoint()
        if bar:
          bar.update(1)
          bar.set_postfix(loss=f"{record['loss']:.3f}", rank=f"{history_rank(history):.1f}",
                          reference=f"{self.monitor.reference:.1f}", clusters=record["clusters"])
    finally:
      if metrics_file:
        metrics_file.close()
      if bar:
        bar.close()
      if self.is_main and history:
        from radiomics_ssl.train.plots import plot_curves

        plot_curves(history, os.path.join(self.out_dir, "curves.png"), self.model.encoder.feature_dim,
                    self.monitor.reference, self.config.rank_floor)
    return self.export(history, time.perf_counter() - started)

  def export(self, history, seconds):
    """Write the weights file (main process only): the best-rank encoder of the second half, or the last."""
    path = os.path.join(self.out_dir, runfiles.WEIGHTS_NAME)
    if not self.is_main:
      return path
    provenance = {"command": self.command, "data": self.data_summary, "device": str(self.device),
                  "processes": distributed.world_size(), "iterations": self.iteration,
                  "seconds_this_session": round(seconds, 1), "rank_untrained": self.monitor.reference,
                  "rank_last": history_rank(history) if history else None}
    iteration, rank, state = self.iteration, provenance["rank_last"], self.model.encoder.state_dict()
    if self.config.export == "best_rank" and history:
      iteration, rank, state = self.monitor.exported(iteration, rank, state)
    provenance.update(exported_iteration=iteration, exported_rank=rank)
    return runfiles.export_weights(self.out_dir, state, self.model.encoder, self.config, provenance, history)


def history_rank(history):
  """The latest measured effective rank in the metrics history (nan before the first)."""
  return next((r["rank"] for r in reversed(history) if "rank" in r), float("nan"))
