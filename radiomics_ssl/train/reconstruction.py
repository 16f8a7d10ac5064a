"""A reconstruction target beside 3DSiam (results/lidc/PREREGISTRATION-3.md, candidate B3).

3DSiam keeps what two views share and may drop the rest; this term asks the extracted features
themselves (the encoder's outputs, before the training-only output BatchNorm) to hold enough of
their box to redraw it at 16^3. It is the restoration family of the small-data literature (Models
Genesis, Zhou et al. 2021) with the identity corruption: the views are not corrupted, so 3DSiam's
views and the encoder's BatchNorm statistics stay those of clean boxes, as extraction sees them.
The decoder trains with the encoder and is never exported.
"""
import torch.nn.functional as F
from torch import nn

from radiomics_ssl.model import INPUT_RANGE

TARGET_SIZE = 16  # the redrawn picture is 16^3, whatever the contract's box
_SEED_SIZE, _SEED_CHANNELS = 4, 128  # the linear layer's output: 128 channels at 4^3


class Decoder3d(nn.Module):
  """features (B, dim) -> picture (B, 1, 16, 16, 16): linear to 128 x 4^3, then twice (trilinear x2,
  3^3 conv, BN, ReLU) with 64 and 32 channels, then a 1^3 conv to one channel."""

  def __init__(self, feature_dim):
    super().__init__()
    self.seed = nn.Linear(feature_dim, _SEED_CHANNELS * _SEED_SIZE ** 3)
    layers, channels = [], _SEED_CHANNELS
    for out_channels in (64, 32):
      layers += [nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                 nn.Conv3d(channels, out_channels, 3, padding=1, bias=False),
                 nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True)]
      channels = out_channels
    layers.append(nn.Conv3d(channels, 1, 1))
    self.body = nn.Sequential(*layers)

  def forward(self, features):
    return self.body(self.seed(features).reshape(-1, _SEED_CHANNELS, _SEED_SIZE, _SEED_SIZE, _SEED_SIZE))


def reconstruction_target(view):
  """The view (B, 1, D, H, W) in [0, 255] -> its intensities / 255, average-pooled to 16^3."""
  return F.adaptive_avg_pool3d(view.float() * (1.0 / INPUT_RANGE), TARGET_SIZE)


def reconstruction_loss(picture, view):
  """The mean squared error of `picture` against `reconstruction_target(view)` standardised over the
  batch: MSE(s * picture + mu, target) / s^2 with the target's batch mean mu and sd s, so that the
  batch's mean intensity everywhere scores about 1 whatever the window. The decoder draws on the
  standardised scale: with nearly flat boxes (LIDC crops are mostly padding in z) dividing a
  [0, 1]-scale error by s^2 multiplies its gradient by up to 1/s^2 and diverged in 6 steps at lr 0.02."""
  target = reconstruction_target(view)
  standardised = (target - target.mean()) / target.std().clamp_min(1e-4)
  return F.mse_loss(picture.contiguous(), standardised.contiguous())
