"""Batched 3D augmentations on the training device (Fig. 1: affine, appearance, contrast, noise).

Every transform is split as in TorchIO: `sample_params` draws all random numbers from one
seeded `torch.Generator`; `apply` is deterministic given those parameters, so any view can be
replayed, and neutral parameters (`identity_params`) leave the batch unchanged.
Ranges (Section 3): rotation +-20 deg, scale 0.7-1.3, shift +-5%, gamma 0.7-1.5, sharpening,
Gaussian blur, Gaussian noise. Intensities are on the paper's [0, 255] scale.
"""
import math

import torch
import torch.nn.functional as F

MAX_VALUE = 255.0
SHARPEN_SIGMA = 1.0  # voxels; unsharp masking x + a * (x - blur(x))


def identity_params(batch, device="cpu"):
  zeros = torch.zeros(batch, device=device)
  return {
    "rotation": torch.zeros(batch, 3, device=device), "scale": torch.ones(batch, device=device),
    "shift": torch.zeros(batch, 3, device=device), "gamma": torch.ones(batch, device=device),
    "sharpen": zeros.clone(), "blur": zeros.clone(), "noise": zeros.clone(),
    "noise_seed": torch.zeros(batch, dtype=torch.int64, device=device),
  }


def sample_params(batch, config, generator, device="cpu"):
  """Draw one view's parameters for `batch` samples from `generator` (a CPU torch.Generator)."""
  def uniform(low, high, *shape):
    return low + (high - low) * torch.rand(batch, *shape, generator=generator)

  def sometimes(values, neutral):
    keep = torch.rand(batch, generator=generator) < config.probability
    return torch.where(keep, values, torch.full_like(values, neutral))

  angle = math.radians(config.rotation_deg)
  params = {
    "rotation": uniform(-angle, angle, 3),
    "scale": uniform(*config.scale),
    "shift": uniform(-config.shift, config.shift, 3),
    "gamma": sometimes(uniform(*config.gamma), 1.0),
    "sharpen": sometimes(uniform(*config.sharpen), 0.0),
    "blur": sometimes(uniform(*config.blur_sigma), 0.0),
    "noise": sometimes(uniform(*config.noise_std), 0.0),
    "noise_seed": torch.randint(0, 2 ** 62, (batch,), generator=generator),
  }
  return {name: value.to(device) for name, value in params.items()}


def apply(x, params):
  """Augment x (B, 1, D, H, W) in [0, 255] with fixed parameters; returns a new tensor."""
  x = affine(x, params["rotation"], params["scale"], params["shift"])
  x = gamma(x, params["gamma"])
  x = sharpen(x, params["sharpen"])
  x = gaussian_blur(x, params["blur"])
  return add_noise(x, params["noise"], params["noise_seed"])


def rotation_matrices(angles):
  """(B, 3) Euler angles (radians) -> (B, 3, 3) rotation matrices Rz @ Ry @ Rx."""
  cos, sin = torch.cos(angles), torch.sin(angles)
  one, zero = torch.ones_like(cos[:, 0]), torch.zeros_like(cos[:, 0])

  def matrix(rows):
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)

  rx = matrix([[one, zero, zero], [zero, cos[:, 0], -sin[:, 0]], [zero, sin[:, 0], cos[:, 0]]])
  ry = matrix([[cos[:, 1], zero, sin[:, 1]], [zero, one, zero], [-sin[:, 1], zero, cos[:, 1]]])
  rz = matrix([[cos[:, 2], -sin[:, 2], zero], [sin[:, 2], cos[:, 2], zero], [zero, zero, one]])
  return rz @ ry @ rx


def affine(x, rotation, scale, shift):
  """Rotate, zoom by `scale` and shift by a fraction of the box; outside is background (0)."""
  if bool((rotation == 0).all() and (scale == 1).all() and (shift == 0).all()):
    return x
  matrix = rotation_matrices(rotation) / scale[:, None, None]  # output -> input sampling grid
  theta = torch.cat([matrix, (2.0 * shift)[:, :, None]], dim=2).to(x.dtype)
  grid = F.affine_grid(theta, list(x.shape), align_corners=False)
  return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def gamma(x, exponent):
  if bool((exponent == 1).all()):
    return x
  return MAX_VALUE * (x.clamp(0, MAX_VALUE) / MAX_VALUE) ** exponent.view(-1, 1, 1, 1, 1).to(x.dtype)


def gaussian_blur(x, sigma):
  """Separable Gaussian blur with one sigma (voxels) per sample; sigma 0 leaves a sample as is."""
  if bool((sigma <= 0).all()):
    return x
  out = x.clone()
  for index, s in enumerate(sigma.tolist()):
    if s <= 0:
      continue
    radius = max(1, int(math.ceil(3 * s)))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / s) ** 2)
    kernel = kernel / kernel.sum()
    sample = x[index:index + 1]
    for axis in range(3):
      shape = [1, 1, 1, 1, 1]
      shape[2 + axis] = kernel.numel()
      padding = [0, 0, 0]
      padding[axis] = radius
      sample = F.conv3d(sample, kernel.view(shape), padding=tuple(padding))
    out[index:index + 1] = sample
  return out


def sharpen(x, amount):
  if bool((amount == 0).all()):
    return x
  smooth = gaussian_blur(x, torch.full_like(amount, SHARPEN_SIGMA))
  return (x + amount.view(-1, 1, 1, 1, 1).to(x.dtype) * (x - smooth)).clamp(0, MAX_VALUE)


def add_noise(x, std, seeds):
  """Gaussian noise from a per-sample seed, so the same parameters give the same noise."""
  if bool((std == 0).all()):
    return x
  out = x.clone()
  for index, (s, seed) in enumerate(zip(std.tolist(), seeds.tolist())):
    if s > 0:
      generator = torch.Generator().manual_seed(int(seed))
      noise = torch.randn(x.shape[1:], generator=generator).to(x.device, x.dtype)
      out[index] = x[index] + s * noise
  return out
