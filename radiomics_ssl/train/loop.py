"""The 3DSiam training loop with the RE/SE module, checkpoints, resume and monitoring.

Schedule (Section 3): one warm-up epoch of plain 3DSiam at batch size 6; then, every
iteration, N = k*q candidate cases are clustered with k-means on their features by the current
encoder (looked up in a FeatureBank, or encoded afresh), and either re-weighted (RE, the batch
is all N) or reduced to m balanced samples (SE). Adam, lr 1e-2, weight decay 1e-4.
"""
import json
import logging
import math
import os
import time

import numpy as np
import torch

from radiomics_ssl import weights as weights_io
from radiomics_ssl.model import ARCHITECTURE, Encoder3d, Siam3d
from radiomics_ssl.diversity import feature_diversity
from radiomics_ssl.train import augment, balance, distributed, rubik
from radiomics_ssl.train.bank import FeatureBank
from radiomics_ssl.train.loss import collapse_std, siam_loss
from radiomics_ssl.train.schedule import CaseSchedule

logger = logging.getLogger(__name__)
WEIGHTS_NAME = "weights.safetensors"
CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
LICENSE = "BSD-3-Clause (code and weights); see weights/README.md for the training data's terms"


class TrainingDiverged(RuntimeError):
  pass


class Trainer:
  """Holds the model, optimiser and schedule; `run()` trains to `config.iterations`."""

  def __init__(self, config, boxes, out_dir, data_summary, command=""):
    if len(boxes) < max(config.batch_size, config.m if config.balance == "se" else 2):
      raise ValueError(f"{len(boxes)} usable case(s); training needs at least batch_size={config.batch_size}")
    self.config, self.out_dir, self.data_summary, self.command = config, out_dir, data_summary, command
    self.device = distributed.init_from_env(config.device)
    # channels-last on CPU only (measured: oneDNN's channels-last conv backward is ~1% off float64
    # gradients, contiguous 0.1%); DDP runs contiguous so that they match a 1-process contiguous run
    self.channels_last = config.channels_last and self.device.type == "cpu" and distributed.world_size() == 1
    self.boxes = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32))
    torch.manual_seed(config.seed)
    if config.method == "rubik":
      self.permutations = rubik.permutation_set(config.rubik_permutations, torch.Generator().manual_seed(config.seed))
      self.model = rubik.RubikNet(Encoder3d(), len(self.permutations)).to(self.device)
    else:
      self.model = Siam3d(Encoder3d(), config.predictor_hidden_dim, config.output_norm).to(self.device)
    if self.channels_last:
      self.model = self.model.to(memory_format=torch.channels_last_3d)
    self.net = self.model  # what the step calls: the model itself, or its DDP wrapper under torchrun
    if distributed.world_size() > 1:
      distributed.globalise_batchnorm(self.model)
      self.net = torch.nn.parallel.DistributedDataParallel(
        self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
    self.is_main = distributed.rank() == 0
    balanced_batch = {"se": config.m, "re": config.n_candidates}.get(config.balance, config.batch_size)
    smallest = min(config.batch_size, balanced_batch)
    if smallest < distributed.world_size():
      raise ValueError(f"a batch of {smallest} cannot be shared by {distributed.world_size()} processes")
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    self.schedule = CaseSchedule(len(boxes), torch.Generator().manual_seed(config.seed))
    self.warmup = self.schedule.warmup_iterations(config.warmup_epochs, config.batch_size)
    self.bank = FeatureBank(len(boxes), config.bank_refresh)
    self.iteration = 0
    os.makedirs(out_dir, exist_ok=True)

  # -- one iteration -----------------------------------------------------------------------
  def _to_input(self, indices):
    return self._layout(self.boxes[torch.as_tensor(indices)][:, None].to(self.device))

  def _layout(self, x):
    return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x

  def _encode(self, indices):
    self.model.eval()
    with torch.no_grad():
      features = self.model.encoder(self._to_input(indices)).double().cpu().numpy()
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
      monitor = {"bank_age": age, "bank_rank": feature_diversity(self.bank.features)[1]}
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=self.schedule.generator))
    labels, centroids = balance.kmeans(features, cfg.k, seed)
    monitor["clusters"] = np.bincount(labels, minlength=cfg.k).tolist()
    if cfg.balance == "re":
      return candidates, balance.re_weights(labels, cfg.k), monitor
    return candidates[balance.se_select(features, labels, centroids, cfg.m)], None, monitor

  def step(self):
    """Train one iteration; returns its metrics."""
    timings = {}
    start = time.perf_counter()
    indices, sample_weights, monitor = self._select()
    timings["balance_s"] = time.perf_counter() - start
    mark = time.perf_counter()
    mine = distributed.shard(len(indices))  # every rank draws the global batch's parameters, keeps its share
    x = self._to_input(indices[mine])
    views = []
    for _ in range(1 if self.config.method == "rubik" else 2):
      params = augment.sample_params(len(indices), self.config.augment, self.schedule.generator, self.device)
      views.append(self._layout(augment.apply(x, {name: value[mine] for name, value in params.items()})))
    timings["augment_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if self.config.method == "rubik":
      loss, objective, r, extra = self._rubik_forward(views[0], len(indices), mine)
    else:
      loss, objective, r = self._siam_forward(views, indices, sample_weights, mine)
      extra = {}
    if not torch.isfinite(loss):
      raise TrainingDiverged(f"loss is {loss.item()} at iteration {self.iteration + 1}; stopping. The last good "
                             f"checkpoint is {os.path.join(self.out_dir, CHECKPOINT_NAME)} (if one was written)")
    self.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    self.optimizer.step()
    timings["step_s"] = time.perf_counter() - mark
    self.iteration += 1
    return {
      "iteration": self.iteration, "phase": "warmup" if self.iteration <= self.warmup else self.config.balance,
      "loss": loss.item(), "collapse_std": collapse_std(r).item(), **extra,
      "batch": len(indices), "cases": [int(i) for i in indices], "clusters": None, **monitor, **timings,
    }

  def _siam_forward(self, views, indices, sample_weights, mine):
    """-> (global loss, this rank's objective, detached outputs of the global batch)."""
    t1, t2, r1, r2 = self.net(*views)
    if distributed.world_size() == 1:
      loss = siam_loss(t1, t2, r1, r2, sample_weights)
      return loss, loss, torch.cat([r1, r2])
    # DDP averages gradients over ranks, so each rank's share of the global loss is scaled by W
    total = float(len(indices) if sample_weights is None else np.sum(sample_weights))
    share = siam_loss(t1, t2, r1, r2, None if sample_weights is None else sample_weights[mine], total)
    r = torch.cat([distributed.gather_rows(r1, len(indices)), distributed.gather_rows(r2, len(indices))])
    return distributed.sum_all(share.detach()), share * distributed.world_size(), r

  def _rubik_forward(self, x, global_batch, mine):
    """The Rubik's cube pretext on this rank's share (puzzles drawn for the global batch, as the
    augmentations are); same return as _siam_forward, plus the permutation accuracy."""
    labels, rotations = rubik.draw_puzzles(global_batch, len(self.permutations), self.schedule.generator)
    cubes, labels, rotations = rubik.make_puzzle(x, self.permutations, labels[mine], rotations[mine])
    logits, rotation_logits, features = self.net(self._layout(cubes))
    share = rubik.rubik_loss(logits, rotation_logits, labels, rotations) * (len(x) / global_batch)
    correct = (logits.argmax(1) == labels).float().sum()
    accuracy = distributed.sum_all(correct.detach()).item() / global_batch
    per_box = features.detach().reshape(len(x), -1)  # gather whole boxes: shares are counted in boxes
    features = distributed.gather_rows(per_box, global_batch).reshape(-1, features.shape[1])
    return distributed.sum_all(share.detach()), share * distributed.world_size(), features, \
      {"permutation_accuracy": accuracy}

  # -- checkpoints -------------------------------------------------------------------------
  def save_checkpoint(self):
    """The main process writes atomically; every process learns whether that worked."""
    error = None
    if self.is_main:
      state = {"iteration": self.iteration, "model": self.model.state_dict(),
               "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
               "bank": self.bank.state_dict(),
               "config": json.dumps(self.config.to_dict(), sort_keys=True),
               "cases_sha256": self.data_summary.get("cases_sha256", "")}
      path = os.path.join(self.out_dir, CHECKPOINT_NAME)
      try:
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)
      except OSError as failure:
        error = failure
    if not distributed.agree(error is None):
      raise error or RuntimeError("the main process could not write the checkpoint (see its message)")

  def load_checkpoint(self):
    path = os.path.join(self.out_dir, CHECKPOINT_NAME)
    if not os.path.isfile(path):
      raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    state = torch.load(path, map_location="cpu", weights_only=True)  # load_state_dict moves tensors to the device
    saved = json.loads(state["config"])
    current = self.config.to_dict()
    differ = sorted(key for key in current if key != "iterations" and json.dumps(saved.get(key), sort_keys=True)
                    != json.dumps(current[key], sort_keys=True))
    if differ:
      raise ValueError(f"{path}: checkpoint was made with a different config ({differ}); resume with the same settings")
    if state["cases_sha256"] != self.data_summary.get("cases_sha256", ""):
      raise ValueError(f"{path}: checkpoint was made on different cases (cases_sha256 differs); resume on the same CSV")
    self.model.load_state_dict(state["model"])
    self.optimizer.load_state_dict(state["optimizer"])
    self.schedule.load_state_dict(state["schedule"])
    self.bank.load_state_dict(state["bank"])
    self.iteration = int(state["iteration"])
    return self.iteration

  # -- the run -----------------------------------------------------------------------------
  def run(self, resume=False, progress=None):
    """Train to `config.iterations`; returns the weights file path."""
    metrics_path = os.path.join(self.out_dir, METRICS_NAME)
    history = _read_metrics(metrics_path, self.load_checkpoint()) if resume else []  # refuses a mismatch first
    if self.is_main:
      _write_config(os.path.join(self.out_dir, "config.yaml"), self.config)
    if self.config.method == "random":  # the untrained baseline: same architecture and contract
      return self.export([], 0.0)
    bar = None
    if self.is_main:
      _write_metrics(metrics_path, history)
      if progress:
        bar = progress(total=self.config.iterations, initial=self.iteration, desc="3DSiam", unit="it")
    started = time.perf_counter()
    metrics_file = open(metrics_path, "a") if self.is_main else None
    try:
      while self.iteration < self.config.iterations:
        record = self.step()
        history.append(record)
        if metrics_file:
          metrics_file.write(json.dumps(record) + "\n")
          metrics_file.flush()
        if self.iteration % self.config.checkpoint_every == 0 or self.iteration == self.config.iterations:
          self.save_checkpoint()
        if bar:
          bar.update(1)
          bar.set_postfix(loss=f"{record['loss']:.3f}", std=f"{record['collapse_std']:.3f}",
                          ref=f"{1 / math.sqrt(self.model.encoder.feature_dim):.3f}", clusters=record["clusters"])
    finally:
      if metrics_file:
        metrics_file.close()
      if bar:
        bar.close()
    if self.is_main:
      from radiomics_ssl.train.plots import plot_curves

      plot_curves(history, os.path.join(self.out_dir, "curves.png"), self.model.encoder.feature_dim)
    return self.export(history, time.perf_counter() - started)

  def export(self, history, seconds):
    """Write the encoder-only weights file with its contract and provenance (the main process only)."""
    path = os.path.join(self.out_dir, WEIGHTS_NAME)
    if not self.is_main:
      return path
    tail = history[-min(len(history), 10):]
    metadata = {
      "architecture": ARCHITECTURE, "arguments": self.model.encoder.arguments, "feature_dim": self.model.encoder.feature_dim,
      "contract": self.config.to_dict()["contract"], "trained": self.iteration > 0,
      "training": {
        "method": self.config.method, "config": self.config.to_dict(), "command": self.command,
        "data": self.data_summary, "device": str(self.device), "processes": distributed.world_size(),
        "torch": torch.__version__,
        "iterations": self.iteration, "seconds_this_session": round(seconds, 1),
        "final_loss_mean10": float(np.mean([r["loss"] for r in tail])) if tail else None,
        "final_collapse_std_mean10": float(np.mean([r["collapse_std"] for r in tail])) if tail else None,
      },
      "license": LICENSE,
    }
    weights_io.save(path, self.model.encoder.state_dict(), metadata)
    return path


def _write_config(path, config):
  """The full effective config as YAML (tuples as lists)."""
  import yaml

  with open(path, "w") as stream:
    yaml.safe_dump(json.loads(json.dumps(config.to_dict())), stream, sort_keys=True)


def _read_metrics(path, up_to_iteration):
  if not os.path.isfile(path):
    return []
  with open(path) as stream:
    records = [json.loads(line) for line in stream if line.strip()]
  return [r for r in records if r["iteration"] <= up_to_iteration]


def _write_metrics(path, records):
  with open(path, "w") as stream:
    stream.writelines(json.dumps(r) + "\n" for r in records)
