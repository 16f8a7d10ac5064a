"""Pretext methods: what the training loop optimises the encoder for.

Each method is one object with one interface, so the loop never asks which one it runs:
- `views`: augmented views per case and iteration;
- `build(encoder)`: the trainable network around the encoder (its `.encoder` is exported);
- `fixed_lr_parameters(net)`: parameters kept at the base lr under a decaying schedule;
- `loss(net, views, batch)`: the global batch's loss, this process's objective, outputs for the
  collapse indicator, and extra metrics.
Under torchrun each process holds `batch.share` of the global batch; DistributedDataParallel
averages gradients over processes, so a process's objective is its share of the global loss x W.
"""
from dataclasses import dataclass

import numpy as np
import torch

from radiomics_ssl import config as config_defaults
from radiomics_ssl.model import Siam3d
from radiomics_ssl.train import distributed, reconstruction, rubik
from radiomics_ssl.train.loss import siam_loss, variance_covariance


@dataclass
class Batch:
  indices: np.ndarray      # the global batch's case indices
  weights: object          # RE's per-sample weights for the global batch, or None
  share: slice             # this process's rows of the global batch
  generator: torch.Generator  # the run's generator, for methods that draw per iteration
  layout: object           # puts a derived input tensor in the training memory format


class Method:
  """The interface the loop calls (see the module docstring). `name` is its TrainConfig.method;
  `check` holds the rules of its own settings."""
  name = None
  views = 1
  trains = True

  def __init__(self, config):
    self.check(config)
    self.config = config

  @classmethod
  def check(cls, config):
    """Raise ValueError for settings this method cannot honour (the VICReg and reconstruction terms
    belong to 3DSiam)."""
    for field in ("variance_weight", "covariance_weight", "reconstruction_weight"):
      if getattr(config, field):
        raise ValueError(f"method={config.method!r} must be siam3d with {field}")
    if getattr(config.contract, "roi_channel", False):
      raise ValueError(f"contract.roi_channel=True works with method siam3d or random, not {config.method!r}")

  def build(self, encoder):
    raise NotImplementedError

  def fixed_lr_parameters(self, net):
    return []

  def loss(self, net, views, batch):
    raise NotImplementedError


class Siam3dMethod(Method):
  """3DSiam (Section 2): two views, Eq. 2 with optional RE weights (sum(w * l) / sum(w))."""
  name = "siam3d"
  views = 2

  @classmethod
  def check(cls, config):
    if getattr(config.contract, "roi_channel", False) and config.reconstruction_weight:
      raise ValueError("contract.roi_channel=True works without reconstruction_weight (the decoder redraws one channel)")

  def build(self, encoder):
    net = Siam3d(encoder, self.config.predictor_hidden_dim, self.config.output_norm)
    if self.config.reconstruction_weight:
      net.decoder = reconstruction.Decoder3d(encoder.feature_dim)  # trained beside the encoder, never exported
    return net

  def fixed_lr_parameters(self, net):
    """SimSiam keeps the predictor's lr constant while the encoder's decays [8]."""
    return list(net.predictor.parameters()) if self.config.predictor_fixed_lr else []

  def loss(self, net, views, batch):
    config = self.config
    if config.variance_weight or config.covariance_weight or config.reconstruction_weight:
      return self._regularised_loss(net, views, batch)
    t1, t2, r1, r2 = net(*views)
    if distributed.world_size() == 1:
      loss = siam_loss(t1, t2, r1, r2, batch.weights)
      return loss, loss, torch.cat([r1, r2]), {}
    total = float(len(batch.indices) if batch.weights is None else np.sum(batch.weights))
    share = siam_loss(t1, t2, r1, r2, None if batch.weights is None else batch.weights[batch.share], total)
    outputs = torch.cat([distributed.gather_rows(r1, len(batch.indices)), distributed.gather_rows(r2, len(batch.indices))])
    return distributed.sum_all(share.detach()), share * distributed.world_size(), outputs, {}


  def _regularised_loss(self, net, views, batch):
    """Eq. 2 plus terms on the encoder's own outputs e (both views; the features that are extracted):
    VICReg's variance and covariance terms, weighted by `variance_weight` and `covariance_weight`,
    keep them spread and decorrelated while the views are pulled together; the reconstruction
    term, weighted by `reconstruction_weight`, asks them to redraw their view (one process only)."""
    if distributed.world_size() > 1:
      raise ValueError("variance_weight, covariance_weight and reconstruction_weight are single-process options "
                       "(batch statistics)")
    config = self.config
    t1, t2, r1, r2, e1, e2 = net(*views, with_features=True)
    siam = siam_loss(t1, t2, r1, r2, batch.weights)
    terms = [variance_covariance(e) for e in (e1, e2)]
    variance, covariance = sum(t[0] for t in terms) / 2, sum(t[1] for t in terms) / 2
    loss = siam + config.variance_weight * variance + config.covariance_weight * covariance
    metrics = {"siam_loss": float(siam.detach()), "variance_term": float(variance.detach()),
               "covariance_term": float(covariance.detach())}
    if config.reconstruction_weight:
      redrawn = sum(reconstruction.reconstruction_loss(net.decoder(e), view) for e, view in zip((e1, e2), views)) / 2
      loss = loss + config.reconstruction_weight * redrawn
      metrics["reconstruction_term"] = float(redrawn.detach())
    return loss, loss, torch.cat([r1, r2]), metrics


class RandomMethod(Siam3dMethod):
  """The untrained encoder, exported as a baseline with the same architecture and contract."""
  name = "random"
  trains = False


class RubikMethod(Method):
  """The Rubik's cube pretext [25] (see train/rubik.py): one view, cut into a 2x2x2 puzzle."""
  name = "rubik"

  @classmethod
  def check(cls, config):
    super().check(config)
    if config.balance != "none":
      raise ValueError(f"balance={config.balance!r} must be none with method rubik")
    if config.contract.box % 2:
      raise ValueError(f"contract.box={config.contract.box!r} must be even with method rubik (2x2x2 cubes)")

  def __init__(self, config):
    super().__init__(config)
    self.permutations = rubik.permutation_set(config.rubik_permutations, torch.Generator().manual_seed(config.seed))

  def build(self, encoder):
    return rubik.RubikNet(encoder, len(self.permutations))

  def loss(self, net, views, batch):
    x, global_batch = views[0], len(batch.indices)
    labels, rotations = rubik.draw_puzzles(global_batch, len(self.permutations), batch.generator)  # for the global batch
    cubes, labels, rotations = rubik.make_puzzle(x, self.permutations, labels[batch.share], rotations[batch.share])
    logits, rotation_logits, features = net(batch.layout(cubes))
    share = rubik.rubik_loss(logits, rotation_logits, labels, rotations) * (len(x) / global_batch)
    correct = (logits.argmax(1) == labels).float().sum()
    accuracy = distributed.sum_all(correct.detach()).item() / global_batch
    per_box = features.detach().reshape(len(x), -1)  # gather whole boxes: shares are counted in boxes
    outputs = distributed.gather_rows(per_box, global_batch).reshape(-1, features.shape[1])
    return distributed.sum_all(share.detach()), share * distributed.world_size(), outputs, \
      {"permutation_accuracy": accuracy}


METHODS = {method.name: method for method in (Siam3dMethod, RubikMethod, RandomMethod)}


def check(config):
  """The rules of the config's method (ValueError naming the setting), before any case is read."""
  METHODS[config.method].check(config)


def build_method(config):
  return METHODS[config.method](config)
