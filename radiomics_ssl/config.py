"""Frozen configuration objects, with every default in one place.

`Contract` is the preprocessing contract a weights file carries: training writes it, extraction
reads it, and `radiomics_ssl.preprocess` is the one implementation that honours it.
"""
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Optional, Tuple

FEATURE_DIM = 256  # the encoder's output size (dense8 of Table 3): the ssl class's features 0 ... 255
ENCODER = {"in_channels": 1, "width": 32, "hidden_dim": 324, "feature_dim": FEATURE_DIM}  # Table 3's widths
DEFAULT_CUDA_BATCH = 32  # ROIs per encoder call on CUDA (`--ssl-batch`); 1 on the CPU, for bit-identical values
DEFAULT_WEIGHTS = "ct-openkbp-siam3d"  # the sslWeights a parameter file that names none gets (weights/README.md says why)
DEVICE_PATTERN = r"^(auto|cpu|cuda|cuda:[0-9]+)$"  # sslDevice and the trainer's --device: auto, cpu, cuda, cuda:N
PRECISIONS = ("fp32", "bf16")
LARGE_ROI_RULES = ("resize", "crop")
INTENSITY_RULES = ("percentile", "fixed")
LAYOUTS = ("box", "tiles")
CONTEXTS = ("crop", "cube")  # what the box holds around the ROI (Contract.context)
POOLINGS = ("mean", "mask")  # how the encoder pools its last map (Contract.pooling)
WINDOW_REGIONS = ("roi", "cube")  # the voxels a percentile window is taken over (Contract.window_region)
TRAINING_VARIANTS = 8  # perturbed versions per case drawn once for views that vary the segmentation
MODALITIES = ("any", "CT", "PET", "MR")
METHODS = ("siam3d", "rubik", "random")  # rubik: Rubik's cube pretext; random: the untrained encoder (baselines);
# train/methods.py gives each name its implementation, and each method checks its own settings
BALANCES = ("none", "re", "se")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("cosine", "constant")
EXPORTS = ("best_rank", "last")


ID_COLUMN = "ID"  # the batch CSV column that names a case, in every command
EVALUATION_DEFAULTS = {"out_dir": "evaluation", "positive": "1", "min_icc": 0.9}  # radiomics-ssl-evaluate

INPUT_DEFAULTS = {"dicomSUV": True}  # how cases are read: a DICOM PET series in SUV (body weight), or raw (cases.py)

EXTRACTION_DEFAULTS = {  # the ssl settings of a pyradiomics parameter file (extract/schema.py validates them)
  "sslWeights": DEFAULT_WEIGHTS,
  "sslDevice": "auto",
  "sslImageTypes": ["original"],  # image types the ssl class runs on, as prefixes of pyradiomics' names
  "sslPrecision": "fp32",
  "sslThreads": 1,  # intra-op threads of the encoder on the CPU: fixed, so that values never depend on --jobs
  "sslModality": None,  # when set, the weights' contract must be for this modality (or 'any')
  "sslUnitsCheck": True,  # check each ROI's values against the contract's modality before its features (units.py)
  "sslThinAxisGuard": True,  # guard pyradiomics' B-spline resampling of two-voxel axes (extract/thin_axes.py)
}

MODALITY_CONTRACTS = {  # what a modality implies for the fields a contract does not set (weights/README.md says why)
  "any": {},
  "CT": {"spacing_mm": 2.0, "intensity": "fixed", "window": (-200.0, 300.0)},  # soft-tissue window, HU
  "PET": {"spacing_mm": 4.0, "intensity": "fixed", "window": (0.0, 30.0)},  # SUV
  "MR": {"spacing_mm": 3.0, "intensity": "percentile", "window": (0.5, 99.5)},  # relative: the ROI's percentiles
}


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
  modality: the images the weights were trained on ('CT' in HU, 'PET' in SUV, 'MR', or 'any');
    a parameter file's `sslModality` must match it.
  layout: 'box' encodes one box centred on the ROI; 'tiles' encodes boxes tiled over the ROI's
    bounding box and averages their features, weighted by the ROI voxels in each.
  The fields of ContextContract (below) read as their defaults on a Contract.
  """
  spacing_mm: float = 3.0
  box: int = 32
  large_roi: str = "crop"
  intensity: str = "percentile"
  window: Tuple[float, float] = (0.5, 99.5)
  mask_background: bool = False
  modality: str = "any"
  layout: str = "box"
  context = "crop"  # ContextContract's fields, at the values every Contract has
  roi_channel = False
  pooling = "mean"
  window_region = "roi"

  def __new__(cls, *args, **fields):
    """`Contract(**fields)` with any of ContextContract's fields makes a ContextContract, so that every
    reader of a weights file's contract dict gets the right class, while a contract without them keeps
    the eight fields (and `asdict`) of every file written before them."""
    if cls is Contract and set(fields) & set(CONTEXT_DEFAULTS):
      cls = ContextContract
    return object.__new__(cls)

  def __post_init__(self):
    object.__setattr__(self, "window", tuple(float(v) for v in self.window))
    _check(self.spacing_mm > 0, "spacing_mm", self.spacing_mm, "must be > 0")
    _check(isinstance(self.box, int) and self.box >= 8, "box", self.box, "must be an integer >= 8")
    _check(self.large_roi in LARGE_ROI_RULES, "large_roi", self.large_roi, f"must be one of {LARGE_ROI_RULES}")
    _check(self.intensity in INTENSITY_RULES, "intensity", self.intensity, f"must be one of {INTENSITY_RULES}")
    _check(len(self.window) == 2 and self.window[0] < self.window[1], "window", self.window, "must be (low, high) with low < high")
    _check(self.modality in MODALITIES, "modality", self.modality, f"must be one of {MODALITIES}")
    _check(self.layout in LAYOUTS, "layout", self.layout, f"must be one of {LAYOUTS}")
    if self.intensity == "percentile":
      _check(0 <= self.window[0] and self.window[1] <= 100, "window", self.window, "percentiles must lie in [0, 100]")

  @property
  def channels(self):
    """The encoder's input channels: the image, and the ROI with `roi_channel`."""
    return 2 if self.roi_channel else 1

  def identity(self):
    """The fields as a dict without ContextContract's fields at their defaults: the box cache's key,
    the same for a Contract and the ContextContract that only restates the defaults."""
    return {k: v for k, v in dataclasses.asdict(self).items() 
            if k not in CONTEXT_DEFAULTS or CONTEXT_DEFAULTS[k] != v}

  @property
  def sees_context(self):
    """Whether the box reads the image beyond the ROI's tight bounding box (ContextContract)."""
    return False

  @classmethod
  def for_modality(cls, modality="any", **fields):
    """The contract of `modality` (MODALITY_CONTRACTS), with `fields` overriding it."""
    _check(modality in MODALITIES, "modality", modality, f"must be one of {MODALITIES}")
    return cls(**{**MODALITY_CONTRACTS[modality], **fields, "modality": modality})


CONTEXT_DEFAULTS = {"context": "crop", "roi_channel": False, "pooling": "mean", "window_region": "roi"}


@dataclass(frozen=True)
class ContextContract(Contract):
  """A Contract that also says what surrounds the ROI in the box and how the encoder sees the ROI
  (results/lidc/PREREGISTRATION-5.md says why). `Contract(**fields)` builds one when `fields` name
  any of these; their defaults are the behaviour of every weights file written before them.

  context: 'crop' fills the box beyond the ROI's tight bounding box, as pyradiomics' crop did;
    'cube' keeps the real image in the box's physical cube around the ROI (fill only outside the
    image given), so the caller must give the image from before pyradiomics' crop.
  roi_channel: the ROI mask is the encoder's second input channel (0 or 255).
  pooling: 'mean' is Table 3's global average; 'mask' keeps conv6's map (the last max-pool is
    dropped) and averages it weighted by the ROI's share of each cell (needs roi_channel).
  window_region: a 'percentile' window over the ROI's voxels ('roi'), or over the given image's
    voxels inside the box's cube around the ROI ('cube'), which does not follow the contour.
  """
  context: str = CONTEXT_DEFAULTS["context"]
  roi_channel: bool = CONTEXT_DEFAULTS["roi_channel"]
  pooling: str = CONTEXT_DEFAULTS["pooling"]
  window_region: str = CONTEXT_DEFAULTS["window_region"]

  @property
  def sees_context(self):
    """Whether the box (or its window) reads the image beyond the ROI's tight bounding box, so that
    extraction must hand `prepare_roi` the image from before pyradiomics' resampling and crop."""
    return self.context == "cube" or self.window_region == "cube"

  def __post_init__(self):
    super().__post_init__()
    _check(self.context in CONTEXTS, "context", self.context, f"must be one of {CONTEXTS}")
    _check(self.context == "crop" or self.layout == "box", "context", self.context, "'cube' needs layout 'box'")
    _check(isinstance(self.roi_channel, bool), "roi_channel", self.roi_channel, "must be true or false")
    _check(self.pooling in POOLINGS, "pooling", self.pooling, f"must be one of {POOLINGS}")
    _check(self.pooling == "mean" or self.roi_channel, "pooling", self.pooling, "'mask' needs roi_channel: true")
    _check(self.window_region in WINDOW_REGIONS, "window_region", self.window_region, f"must be one of {WINDOW_REGIONS}")


PERTURBATIONS = ("rotation", "translation", "noise", "volume", "contour")  # perturb.py implements them
DEFAULT_CHAIN = ("rotation", "noise", "volume", "contour")


@dataclass(frozen=True)
class PerturbationSettings:
  """Ranges of the perturbations (a setting not in `chain` is not applied).

  The default chain applies rotation, noise, volume adaptation and contour randomisation together
  in every perturbation, so that one ICC reflects positioning, acquisition and segmentation at
  once; translation is off by default, because pyradiomics resamples every perturbed image again."""
  chain: tuple = DEFAULT_CHAIN
  count: int = 10  # perturbations per case
  rotation_deg: float = 15.0  # angles drawn in [-rotation_deg, rotation_deg], axial plane
  volume_fraction: float = 0.2  # volume changes drawn in [-volume_fraction, volume_fraction]
  supervoxel_voxels: int = 30  # mean supervoxel size of contour randomisation
  margin_mm: float = 15.0  # the crop around the ROI that is perturbed (and written)

  def __post_init__(self):
    object.__setattr__(self, "chain", tuple(self.chain))
    unknown = sorted(set(self.chain) - set(PERTURBATIONS))
    if unknown or not self.chain:
      raise ValueError(f"perturbation chain {list(self.chain)}: choose from {list(PERTURBATIONS)}")
    if self.count < 2:
      raise ValueError(f"perturbations per case={self.count}: an ICC needs at least 2")
    if not 0 <= self.volume_fraction < 1:
      raise ValueError(f"volume fraction={self.volume_fraction}: must lie in [0, 1)")


@dataclass(frozen=True)
class Augment:
  """How a training view is made from a case (see train/augment.py); a range (x, x) or 0 is off.

  The defaults cut views at the contract's fixed physical scale: each view is a box-sized window
  moved by up to a quarter box over a region 1.5 boxes wide around the ROI, randomly flipped,
  with no change of size, contrast, texture or intensity, which classical radiomics measures and
  3DSiam would learn to ignore (results/recipe/ compares the alternatives). The paper's
  augmentations (Fig. 1, Section 3: rotation +-20 deg, scale 0.7-1.3, shift +-5%, gamma 0.7-1.5,
  sharpening, blur, noise) are in params/train/paper.yaml.
  """
  context: float = 1.5
  rotation_deg: float = 0.0
  scale: Tuple[float, float] = (1.0, 1.0)
  shift: float = 0.25  # largest displacement of a view's centre, as a fraction of the box side
  flip: bool = True
  gamma: Tuple[float, float] = (1.0, 1.0)
  sharpen: Tuple[float, float] = (0.0, 0.0)
  blur_sigma: Tuple[float, float] = (0.0, 0.0)
  noise_std: Tuple[float, float] = (0.0, 0.0)
  intensity_shift: float = 0.0  # largest histogram shift, on the [0, 255] scale
  probability: float = 0.5  # chance of each appearance/contrast/noise/histogram transform per view
  perturbations: Tuple[str, ...] = ()  # the robustness study's perturbations (perturb.py) that vary
  # each view's image and segmentation: rotation, translation, noise, volume, contour; () = off
  variants: int = TRAINING_VARIANTS  # perturbed versions per case, drawn once and cached (train/views.py)

  def __post_init__(self):
    _check(self.context >= 1.0, "augment.context", self.context, "must be >= 1")
    object.__setattr__(self, "perturbations", tuple(self.perturbations))
    if self.perturbations:

      _check(set(self.perturbations) <= set(PERTURBATIONS), "augment.perturbations", self.perturbations,
             f"must be chosen from {PERTURBATIONS}")
      _check(self.variants >= 2, "augment.variants", self.variants, "must be >= 2 (each view of a pair takes its own)")
    _check(0 <= self.probability <= 1, "augment.probability", self.probability, "must lie in [0, 1]")
    for name in ("scale", "gamma", "sharpen", "blur_sigma", "noise_std"):
      value = getattr(self, name)
      object.__setattr__(self, name, tuple(float(v) for v in value))
      _check(len(value) == 2 and value[0] <= value[1], f"augment.{name}", value, "must be (low, high) with low <= high")


@dataclass(frozen=True)
class TrainConfig:
  """Everything `radiomics-ssl-train` needs; saved with every run and weights file.

  Optimiser: SimSiam's recipe [8] by default (SGD, momentum 0.9, weight decay 1e-4, cosine
  decay, predictor at a constant lr). The default lr is SimSiam's rule 0.05 * batch / 256 evaluated
  once at the default batch of 6 (0.00117); it does not follow `batch_size`, so set `lr` when you
  change the batch; `optimizer: adam` with
  `lr_schedule: constant` and lr 1e-2 is the paper's (params/train/paper.yaml).
  Collapse guard: every `rank_every` iterations the effective rank of the encoder's features over
  up to `rank_cases` cases is measured; below `rank_warn` x the untrained encoder's rank the run
  warns, below `rank_floor` x at two measurements in a row it stops without writing weights.
  `export: best_rank` writes the encoder of the highest-rank measurement of the run's second half.
  """
  contract: Contract = field(default_factory=Contract)
  augment: Augment = field(default_factory=Augment)
  method: str = "siam3d"
  balance: str = "none"
  k: int = 3
  q: int = 10
  m: int = 6
  batch_size: int = 6
  warmup_epochs: int = 1
  iterations: int = 400
  optimizer: str = "sgd"
  lr: float = 0.05 * 6 / 256
  lr_schedule: str = "cosine"
  momentum: float = 0.9
  predictor_fixed_lr: bool = True
  weight_decay: float = 1e-4
  predictor_hidden_dim: int = 64
  output_norm: bool = True  # BN on the encoder output during training only (see model.Siam3d)
  variance_weight: float = 0.0  # siam3d: VICReg's variance term on the encoder outputs (train/loss.py), 0 = off
  covariance_weight: float = 0.0  # siam3d: VICReg's covariance term on the encoder outputs, 0 = off
  reconstruction_weight: float = 0.0  # siam3d: redraw each view from its encoder outputs (train/reconstruction.py), 0 = off;
  # like the VICReg terms it is a batch mean, not weighted by RE
  rubik_permutations: int = 24  # method rubik: permutation classes
  balance_features: str = "bank"  # RE/SE features: 'bank' (see train/bank.py) or 'fresh' (paper: encode N per step)
  bank_refresh: int = 1  # cases the bank re-encodes per iteration
  rank_every: int = 50
  rank_cases: int = 128
  rank_warn: float = 0.5
  rank_floor: float = 0.25
  export: str = "best_rank"
  seed: int = 0
  device: str = "auto"
  checkpoint_every: int = 25
  channels_last: bool = True

  def __post_init__(self):
    _check(self.method in METHODS, "method", self.method, f"must be one of {METHODS}")
    _check(self.balance in BALANCES, "balance", self.balance, f"must be one of {BALANCES}")
    _check(self.variance_weight >= 0 and self.covariance_weight >= 0, "variance_weight", (self.variance_weight,
           self.covariance_weight), "and covariance_weight must be >= 0")
    _check(self.reconstruction_weight >= 0, "reconstruction_weight", self.reconstruction_weight, "must be >= 0")
    _check(self.rubik_permutations >= 2, "rubik_permutations", self.rubik_permutations, "must be >= 2")
    _check(self.balance_features in ("bank", "fresh"), "balance_features", self.balance_features, "must be bank or fresh")
    _check(self.bank_refresh >= 0, "bank_refresh", self.bank_refresh, "must be >= 0")
    _check(self.k >= 2 or self.balance == "none", "k", self.k, "must be >= 2 with RE/SE")
    _check(self.q >= 1, "q", self.q, "must be >= 1")
    _check(self.m >= 2 and self.m % 2 == 0, "m", self.m, "must be an even number >= 2")
    _check(self.batch_size >= 2, "batch_size", self.batch_size, "must be >= 2 (BatchNorm)")
    _check(self.iterations >= 1, "iterations", self.iterations, "must be >= 1")
    _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"must be one of {OPTIMIZERS}")
    _check(self.lr_schedule in LR_SCHEDULES, "lr_schedule", self.lr_schedule, f"must be one of {LR_SCHEDULES}")
    _check(self.lr > 0, "lr", self.lr, "must be > 0")
    _check(0 <= self.momentum < 1, "momentum", self.momentum, "must lie in [0, 1)")
    _check(self.rank_every >= 1, "rank_every", self.rank_every, "must be >= 1")
    _check(self.rank_cases >= 2, "rank_cases", self.rank_cases, "must be >= 2")
    _check(0 <= self.rank_floor <= self.rank_warn <= 1, "rank_floor", (self.rank_floor, self.rank_warn),
           "and rank_warn must satisfy 0 <= rank_floor <= rank_warn <= 1")
    _check(self.export in EXPORTS, "export", self.export, f"must be one of {EXPORTS}")
    _check(self.checkpoint_every >= 1, "checkpoint_every", self.checkpoint_every, "must be >= 1")
    _check(re.match(DEVICE_PATTERN, self.device) is not None, "device", self.device, "must be auto, cpu, cuda or cuda:N")

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
    if "contract" in values and not isinstance(values["contract"], Contract):
      values["contract"] = _build(Contract.for_modality, values["contract"], f"{source}: contract", ContextContract)
    if "augment" in values and not isinstance(values["augment"], Augment):
      values["augment"] = _build(Augment, values["augment"], f"{source}: augment")
    return _build(cls, values, source)


@dataclass(frozen=True)
class SupervisedConfig:
  """Table 2's supervised row (evaluate/supervised.py): the encoder plus a linear layer, trained per CV fold."""
  epochs: int = 20
  batch_size: int = 6
  lr: float = 1e-3
  weight_decay: float = 1e-4
  augment: Augment = field(default_factory=Augment)


@dataclass(frozen=True)
class Protocol:
  """The paper's evaluation protocol (Section 3): stratified `n_splits`-fold CV repeated `repeats`
  times, C of a linear SVM chosen from `c_grid` on an inner `inner_fraction` of each training fold."""
  n_splits: int = 5
  repeats: int = 10
  seed: int = 0
  label_fraction: float = 1.0
  class_weight: Optional[str] = None  # None or "balanced"
  c_grid: Tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
  inner_fraction: float = 0.2
  ssl_components: Optional[int] = None  # in-fold PCA of the ssl block to this many components; None = off

  def __post_init__(self):
    if not 0 < self.label_fraction <= 1:
      raise ValueError(f"label_fraction={self.label_fraction!r} must lie in (0, 1]")
    if self.class_weight not in (None, "balanced"):
      raise ValueError(f"class_weight={self.class_weight!r} must be None or 'balanced'")
    if self.ssl_components is not None and self.ssl_components < 1:
      raise ValueError(f"ssl_components={self.ssl_components!r} must be None or >= 1")


def _build(klass, values, source, fields_of=None):
  known = {f.name for f in dataclasses.fields(fields_of or klass)}
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
