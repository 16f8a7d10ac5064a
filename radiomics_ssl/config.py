"""Frozen configuration objects, with every default in one place.

`Contract` is the preprocessing contract a weights file carries: training writes it, extraction
reads it, and `radiomics_ssl.preprocess` is the one implementation that honours it.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Tuple

LARGE_ROI_RULES = ("resize", "crop")
INTENSITY_RULES = ("percentile", "fixed")
METHODS = ("siam3d", "rubik", "random")  # rubik: Rubik's cube pretext; random: the untrained encoder (baselines)


@dataclass(frozen=True)
class Contract:
  """How an ROI becomes the encoder's fixed-size input box.

  spacing_mm: isotropic voxel size of the box.
  box: side of the cubic box, in voxels.
  large_roi: ROIs wider than box*spacing_mm are either 'resize'd (the spacing grows so that the
    whole ROI fits, as the paper resizes its 224^3 lung box to 112^3) or 'crop'ped around the ROI
    centre (as the paper crops brain tumours at 96^3 and 1 mm).
  intensity: 'percentile' maps the window's percentiles of the ROI's voxels to [0, 255];
    'fixed' maps the window's absolute values (e.g. CT Hounsfield units) to [0, 255].
  window: (low, high) for the intensity rule; values outside are clipped.
  mask_background: set voxels outside the ROI to 0 (background).
  """
  spacing_mm: float = 2.0
  box: int = 48
  large_roi: str = "resize"
  intensity: str = "percentile"
  window: Tuple[float, float] = (0.5, 99.5)
  mask_background: bool = False

  def __post_init__(self):
    object.__setattr__(self, "window", tuple(float(v) for v in self.window))
    _check(self.spacing_mm > 0, "spacing_mm", self.spacing_mm, "must be > 0")
    _check(isinstance(self.box, int) and self.box >= 8, "box", self.box, "must be an integer >= 8")
    _check(self.large_roi in LARGE_ROI_RULES, "large_roi", self.large_roi, f"must be one of {LARGE_ROI_RULES}")
    _check(self.intensity in INTENSITY_RULES, "intensity", self.intensity, f"must be one of {INTENSITY_RULES}")
    _check(len(self.window) == 2 and self.window[0] < self.window[1], "window", self.window, "must be (low, high) with low < high")
    if self.intensity == "percentile":
      _check(0 <= self.window[0] and self.window[1] <= 100, "window", self.window, "percentiles must lie in [0, 100]")


@dataclass(frozen=True)
class Augment:
  """Ranges of the four augmentation categories of Fig. 1 and Section 3 (training schedule)."""
  rotation_deg: float = 20.0
  scale: Tuple[float, float] = (0.7, 1.3)
  shift: float = 0.05
  gamma: Tuple[float, float] = (0.7, 1.5)
  sharpen: Tuple[float, float] = (0.0, 1.0)
  blur_sigma: Tuple[float, float] = (0.0, 1.0)
  noise_std: Tuple[float, float] = (0.0, 10.0)
  probability: float = 0.5  # chance of each appearance/contrast/noise transform per view


@dataclass(frozen=True)
class TrainConfig:
  """Everything `radiomics-ssl-train` needs; saved with every run and weights file."""
  contract: Contract = field(default_factory=Contract)
  augment: Augment = field(default_factory=Augment)
  method: str = "siam3d"
  balance: str = "none"
  k: int = 3
  q: int = 10
  m: int = 6
  batch_size: int = 6
  warmup_epochs: int = 1
  iterations: int = 300
  lr: float = 1e-2
  weight_decay: float = 1e-4
  predictor_hidden_dim: int = 64
  output_norm: bool = True  # BN on the encoder output during training only (see model.Siam3d)
  rubik_permutations: int = 24  # method rubik: permutation classes
  balance_features: str = "bank"  # RE/SE features: 'bank' (see train/bank.py) or 'fresh' (paper: encode N per step)
  bank_refresh: int = 1  # cases the bank re-encodes per iteration
  seed: int = 0
  device: str = "auto"
  checkpoint_every: int = 25
  channels_last: bool = True

  def __post_init__(self):
    _check(self.method in METHODS, "method", self.method, f"must be one of {METHODS}")
    _check(self.balance in ("none", "re", "se"), "balance", self.balance, "must be none, re or se")
    _check(self.method != "rubik" or self.balance == "none", "balance", self.balance, "must be none with method rubik")
    _check(self.method != "rubik" or self.contract.box % 2 == 0, "contract.box", self.contract.box,
           "must be even with method rubik (2x2x2 cubes)")
    _check(self.rubik_permutations >= 2, "rubik_permutations", self.rubik_permutations, "must be >= 2")
    _check(self.balance_features in ("bank", "fresh"), "balance_features", self.balance_features, "must be bank or fresh")
    _check(self.bank_refresh >= 0, "bank_refresh", self.bank_refresh, "must be >= 0")
    _check(self.k >= 2 or self.balance == "none", "k", self.k, "must be >= 2 with RE/SE")
    _check(self.q >= 1, "q", self.q, "must be >= 1")
    _check(self.m >= 2 and self.m % 2 == 0, "m", self.m, "must be an even number >= 2")
    _check(self.batch_size >= 2, "batch_size", self.batch_size, "must be >= 2 (BatchNorm)")
    _check(self.iterations >= 1, "iterations", self.iterations, "must be >= 1")
    _check(self.lr > 0, "lr", self.lr, "must be > 0")
    _check(self.checkpoint_every >= 1, "checkpoint_every", self.checkpoint_every, "must be >= 1")

  @property
  def n_candidates(self):
    """N = k*q cases drawn per RE/SE iteration."""
    return self.k * self.q

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values, source="config"):
    """Build from nested dicts (YAML); unknown keys are errors naming `source`."""
    values = dict(values)
    nested = {"contract": Contract, "augment": Augment}
    for key, klass in nested.items():
      if key in values and not isinstance(values[key], klass):
        values[key] = _build(klass, values[key], f"{source}: {key}")
    return _build(cls, values, source)


def _build(klass, values, source):
  known = {f.name for f in dataclasses.fields(klass)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f"{source}: unknown setting(s) {unknown}; known: {sorted(known)}")
  try:
    return klass(**values)
  except (TypeError, ValueError) as error:
    raise ValueError(f"{source}: {error}") from None


def _check(ok, name, value, rule):
  if not ok:
    raise ValueError(f"{name}={value!r} {rule}")
