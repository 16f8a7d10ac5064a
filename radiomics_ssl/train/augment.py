"""Batched 3D augmentations on the training device: each view is cut from a case's region.

Every transform is split as in TorchIO: `sample_params` draws all random numbers from one
seeded `torch.Generator`; `apply` is deterministic given those parameters, so any view can be
replayed, and neutral parameters (`identity_params`) leave the batch unchanged.

The paper's four categories (Fig. 1, Section 3): affine (rotation +-20 deg, scale 0.7-1.3, shift
+-5%), appearance (sharpening, Gaussian blur), contrast (gamma 0.7-1.5) and noise. Added for
training at a fixed physical scale: the region a view is cut from may be larger than the box
(`Augment.context`), so a shift moves the view's window over the ROI instead of padding it with
background; random flips; and a histogram shift of the intensities. Intensities are on the
paper's [0, 255] scale.
"""
import math

import torch
import torch.nn.functional as F

MAX_VALUE = 255.0
SHARPEN_SIGMA = 1.0  # voxels; unsharp masking x + a * (x - blur(x))


def region_size(box, context):
  """Side of the cached region a view is cut from: about `context` x box, with the box's parity
  so that the centred view falls on whole voxels."""
  return box + 2 * int(round((context - 1.0) * box / 2))


def identity_params(batch, device="cpu"):
  zeros = torch.zeros(batch, device=device)
  return {
    "rotation": torch.zeros(batch, 3, device=device), "scale": torch.ones(batch, device=device),
    "shift": torch.zeros(batch, 3, device=device), "gamma": torch.ones(batch, device=device),
    "sharpen": zeros.clone(), "blur": zeros.clone(), "noise": zeros.clone(),
    "noise_seed": torch.zeros(batch, dtype=torch.int64, device=device),
    "flip": torch.zeros(batch, 3, dtype=torch.bool, device=device), "intensity_shift": zeros.clone(),
  }


def sample_params(batch, config, generator, device="cpu"):
  """Draw one view's parameters for `batch` samples from `generator` (a CPU torch.Generator).

  Every parameter is drawn whatever the config, so two configs that differ in one range draw
  the same values for all the others."""
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
    "flip": (torch.rand(batch, 3, generator=generator) < 0.5) & config.flip,
    "intensity_shift": sometimes(uniform(-config.intensity_shift, config.intensity_shift), 0.0),
  }
  return {name: value.to(device) for name, value in params.items()}


def apply(x, params, size=None):
  """Augment x (B, C, D, H, W) in [0, 255] with fixed parameters; returns a new tensor. With `size`,
  each view is a size^3 window of the region x (a cube) instead of the whole of it. Channel 0 is
  the image; a second channel (the ROI, 0 or 255) follows the geometry only and stays binary."""
  x = affine(x, params["rotation"], params["scale"], params["shift"], size)
  x = flip(x, params["flip"])
  if x.shape[1] > 1:
    return torch.cat([appearance(x[:, :1], params), (x[:, 1:] >= MAX_VALUE / 2).to(x.dtype) * MAX_VALUE], dim=1)
  return appearance(x, params)


def appearance(x, params):
  """The intensity transforms of `apply`, in its order: gamma, sharpening, blur, histogram shift, noise."""
  x = gamma(x, params["gamma"])
  x = sharpen(x, params["sharpen"])
  x = gaussian_blur(x, params["blur"])
  x = intensity_shift(x, params["intensity_shift"])
  return add_noise(x, params["noise"], params["noise_seed"])


def centre_crop(x, size):
  """The central size^3 window of x (B, C, R, R, R): the view extraction sees, on whole voxels."""
  start = (x.shape[-1] - size) // 2
  return x[..., start:start + size, start:start + size, start:start + size]


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


def affine(x, rotation, scale, shift, size=None):
  """Rotate, zoom by `scale` and shift by `shift` output sides from the centre; outside the input
  is background (0). The output is x's shape, or a size^3 window of x."""
  shape = list(x.shape[2:]) if size is None else [size] * 3
  if bool((rotation == 0).all() and (scale == 1).all() and (shift == 0).all()):
    return x if size is None else centre_crop(x, size)
  # the output's extent in the input's normalised coordinates, per (x, y, z) = (W, H, D) axis
  ratio = torch.tensor([o / i for o, i in zip(shape, x.shape[2:])][::-1], dtype=rotation.dtype, device=rotation.device)
  matrix = ratio[:, None] * rotation_matrices(rotation) / scale[:, None, None]  # output -> input sampling grid
  theta = torch.cat([matrix, (2.0 * ratio * shift)[:, :, None]], dim=2).to(x.dtype)
  grid = F.affine_grid(theta, [x.shape[0], x.shape[1], *shape], align_corners=False)
  return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def flip(x, axes):
  """Mirror each sample along the spatial axes where `axes` (B, 3) is True."""
  if not bool(axes.any()):
    return x
  out = x.clone()
  for index in range(len(x)):
    dims = [2 + axis for axis in range(3) if axes[index, axis]]
    if dims:
      out[index] = x[index].flip([d - 1 for d in dims])
  return out


def gamma(x, exponent):
  if bool((exponent == 1).all()):
    return x
  return MAX_VALUE * (x.clamp(0, MAX_VALUE) / MAX_VALUE) ** exponent.view(-1, 1, 1, 1, 1).to(x.dtype)


def intensity_shift(x, offset):
  """Histogram shift: add one offset per sample, clipped to the [0, 255] range."""
  if bool((offset == 0).all()):
    return x
  return (x + offset.view(-1, 1, 1, 1, 1).to(x.dtype)).clamp(0, MAX_VALUE)


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
