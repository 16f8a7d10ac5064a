"""The 3D encoder of Table 3 (Supplementary) and the 3DSiam wrapper of Section 2.

Table 3: conv1 3^3x32; two bottleneck residual blocks [1^3, 3^3, 1^3] x 32; max-pool 3;
conv4 64; max-pool 3; conv5 128; max-pool 3; conv6 256 (each conv with BN + ReLU);
global pooling; dense7 324 + BN; dense8 256. "The input is set to 96x96x96 but it can be
arbitrary size in practice": pooling shrinks its window on axes shorter than 3 voxels.
Contracts with a ROI channel give the stem two input channels; `pooling: mask` averages conv6's
map weighted by the ROI instead (config.Contract says when and why).
"""
import torch
import torch.nn.functional as F
from torch import nn

from radiomics_ssl.config import ENCODER

ARCHITECTURE = "siam3d-encoder-v1"
INPUT_RANGE = 255.0  # the paper rescales intensities to [0, 255]; the stem maps that to [0, 1]


def _conv_bn_relu(in_channels, out_channels, kernel_size):
  return nn.Sequential(
    nn.Conv3d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
    nn.BatchNorm3d(out_channels),
    nn.ReLU(inplace=True),
  )


class Bottleneck3d(nn.Module):
  """Residual block [1^3, 3^3, 1^3] at constant width (Table 3, residual blocks 2 and 3)."""

  def __init__(self, width):
    super().__init__()
    self.branch = nn.Sequential(
      _conv_bn_relu(width, width, 1),
      _conv_bn_relu(width, width, 3),
      nn.Conv3d(width, width, 1, bias=False),
      nn.BatchNorm3d(width),
    )

  def forward(self, x):
    return F.relu(x + self.branch(x))


class _Pool3(nn.Module):
  """Max-pool with window and stride 3 (96 -> 32 -> 10 -> 3 in Table 3), never wider than the input."""

  def forward(self, x):
    window = tuple(min(3, size) for size in x.shape[2:])
    return F.max_pool3d(x, window, window)


class Encoder3d(nn.Module):
  """The paper's encoder; its 256 last-layer outputs are the radiomic features."""

  def __init__(self, in_channels=ENCODER["in_channels"], width=ENCODER["width"], hidden_dim=ENCODER["hidden_dim"],
               feature_dim=ENCODER["feature_dim"], pooling="mean"):
    super().__init__()
    if pooling not in ("mean", "mask") or (pooling == "mask" and in_channels < 2):
      raise ValueError(f"pooling={pooling!r} with in_channels={in_channels}: 'mean', or 'mask' with a ROI channel")
    self.feature_dim, self.pooling = feature_dim, pooling
    self.arguments = dict(in_channels=in_channels, width=width, hidden_dim=hidden_dim, feature_dim=feature_dim)
    if pooling != "mean":  # Table 3's arguments only, unless pooling differs (older files name none)
      self.arguments["pooling"] = pooling
    self.trunk = nn.Sequential(
      _conv_bn_relu(in_channels, width, 3),
      Bottleneck3d(width),
      Bottleneck3d(width),
      _Pool3(),
      _conv_bn_relu(width, 64, 3),
      _Pool3(),
      _conv_bn_relu(64, 128, 3),
      _Pool3() if pooling == "mean" else nn.Identity(),  # mask pooling keeps conv6's map (3^3 at a 32^3 box)
      _conv_bn_relu(128, 256, 3),
      nn.AdaptiveAvgPool3d(1),
      nn.Flatten(),
    )
    self.head = nn.Sequential(
      nn.Linear(256, hidden_dim, bias=False),
      nn.BatchNorm1d(hidden_dim),
      nn.ReLU(inplace=True),
      nn.Linear(hidden_dim, feature_dim),
    )

  def forward(self, x):
    """x: (B, C, D, H, W) intensities in [0, 255] (channel 1: the ROI, 0 or 255) -> (B, feature_dim)."""
    x = x * (1.0 / INPUT_RANGE)
    if self.pooling == "mean":
      return self.head(self.trunk(x))
    return self.head(mask_pool(self.trunk[:-2](x), x[:, 1:2]))


def mask_pool(features, roi):
  """The mean of a feature map (B, C, d, h, w) weighted by the ROI's share of each cell (roi: (B, 1,
  D, H, W) in [0, 1]); a sample whose ROI covers no cell gets the plain mean."""
  share = F.adaptive_avg_pool3d(roi.to(features.dtype), features.shape[2:])
  total = share.sum(dim=(2, 3, 4))
  weighted = (features * share).sum(dim=(2, 3, 4)) / total.clamp_min(1e-12)
  return torch.where(total > 0, weighted, features.mean(dim=(2, 3, 4)))


class Predictor(nn.Module):
  """The two-layer perceptron p of Fig. 1, a bottleneck MLP as in SimSiam [8]."""

  def __init__(self, dim=256, hidden_dim=64):
    super().__init__()
    self.net = nn.Sequential(
      nn.Linear(dim, hidden_dim, bias=False),
      nn.BatchNorm1d(hidden_dim),
      nn.ReLU(inplace=True),
      nn.Linear(hidden_dim, dim),
    )

  def forward(self, z):
    return self.net(z)


class Siam3d(nn.Module):
  """3DSiam: E_a and E_f share weights; E_f is the stop-gradient branch of Eq. 2.

  `output_norm` standardises the encoder's output over the batch (BatchNorm without affine
  parameters) before the loss and the predictor, as SimSiam's projector ends with BN [8].
  It exists only in training: the weights file holds the encoder, whose dense8 outputs are the
  features, and a per-dimension affine map does not change what a standardised linear
  classifier can do with them. Without it the encoder collapses to a 1-2 dimensional output
  on our cohort (benchmarks in weights/README.md).
  """

  def __init__(self, encoder, predictor_hidden_dim=64, output_norm=True):
    super().__init__()
    self.encoder = encoder
    self.output_norm = nn.BatchNorm1d(encoder.feature_dim, affine=False) if output_norm else nn.Identity()
    self.predictor = Predictor(encoder.feature_dim, predictor_hidden_dim)

  def forward(self, x1, x2, with_features=False):
    """Returns t1, t2 (predictions) and r1, r2 (targets, detached: the E_f branch); with
    `with_features`, also the encoder's own outputs e1, e2 (the extracted features, with their graph)."""
    e1, e2 = self.encoder(x1), self.encoder(x2)
    r1, r2 = self.output_norm(e1), self.output_norm(e2)
    t1, t2 = self.predictor(r1), self.predictor(r2)
    if with_features:
      return t1, t2, r1.detach(), r2.detach(), e1, e2
    return t1, t2, r1.detach(), r2.detach()


def encoder_for(contract):
  """A freshly initialised encoder for a preprocessing contract: its input channels and pooling."""
  return Encoder3d(in_channels=contract.channels, pooling=contract.pooling)


def build_encoder(architecture, arguments):
  """Instantiate the encoder named in a weights file's metadata."""
  if architecture != ARCHITECTURE:
    raise ValueError(f"unknown architecture {architecture!r} (this version knows {ARCHITECTURE!r})")
  return Encoder3d(**arguments)


def encoder_flops(box, arguments=None):
  """Multiply-add FLOPs (x2) of one forward pass at a cubic input of side `box`, from the architecture."""
  arguments = {**ENCODER, **(arguments or {})}
  width, hidden, dim, in_ch = arguments["width"], arguments["hidden_dim"], arguments["feature_dim"], arguments["in_channels"]
  voxels = box ** 3
  macs = voxels * 27 * in_ch * width  # conv1
  macs += 2 * voxels * (width * width * (1 + 27 + 1))  # two bottlenecks
  size = box
  for cin, cout in ((width, 64), (64, 128), (128, 256)):
    if cout != 256 or arguments.get("pooling", "mean") == "mean":  # mask pooling keeps the last map
      size = size // 3 if size >= 3 else 1  # _Pool3 shrinks its window to the axis, giving 1
    macs += size ** 3 * 27 * cin * cout
  macs += 256 * hidden + hidden * dim
  return 2 * macs
