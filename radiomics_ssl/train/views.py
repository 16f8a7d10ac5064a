"""Training regions whose image and segmentation differ between the two views of a pair.

3DSiam learns the invariances its views encode (results/lidc/PREREGISTRATION-5.md). The views here
vary what a second reader and a second scan vary, with the robustness study's own perturbations
(perturb.py: rotation, translation, noise, volume adaptation, contour randomisation) as
the one implementation. Its supervoxels cost more than a training step on a CPU, so each case is
perturbed `augment.variants` times once, each version is preprocessed by `prepare_roi` like the
case itself (so a new contour changes the crop, or the ROI channel), and the versions are cached
beside the boxes (train/data.py). Version 0 is the case unperturbed: what extraction sees, and what
the rank monitor and the RE/SE bank encode. At every step each view of a pair takes its own
perturbed version, drawn from the run's generator, before its shift and flip (train/augment.py).

As in perturb.py, choice and work are apart: `version_seed` names each version's draw, so a cache
can be rebuilt exactly.
"""
import hashlib

import numpy as np
import SimpleITK as sitk
import torch

from radiomics_ssl.config import PerturbationSettings
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl import perturb


def perturbation_settings(augment):
  """The robustness study's settings (its ranges) with the training's chain and version count."""
  return PerturbationSettings(chain=augment.perturbations, count=augment.variants)


def version_seed(seed, case_key, version):
  """The perturbation seed of one version of one case in a run of `seed`."""
  digest = hashlib.sha256(f"{seed}|{case_key}|{version}".encode()).digest()
  return int.from_bytes(digest[:8], "little")


def case_versions(image, mask, label, contract, size, augment, seed, case_key):
  """-> (images (V, R, R, R) float32, rois (V, R, R, R) uint8): version 0 unperturbed, then, with
  `augment.perturbations`, `augment.variants` perturbed versions; R = `size`.

  The image is first cut to the region's side beyond the ROI on every face, which holds the
  region and its rotation by the chain's angles, so perturbing a whole scan stays cheap."""
  binary = sitk.Cast(mask == label, sitk.sitkUInt8)
  image, binary = perturb.crop_around_roi(image, binary, size * contract.spacing_mm)
  versions = [(image, binary)]
  if augment.perturbations:
    settings = perturbation_settings(augment)
    versions += [perturb.apply(image, binary, perturb.draw(version_seed(seed, case_key, v), settings), settings)
                 for v in range(1, augment.variants + 1)]
  prepared = [prepare_roi(version_image, version_mask, 1, contract, size) for version_image, version_mask in versions]
  return np.stack([p.box for p in prepared]), np.stack([p.roi for p in prepared]).astype(np.uint8)


class Regions:
  """The cached training regions of every case: images (N, V, R, R, R) in [0, 255], and the ROIs
  (N, V, R, R, R) as 0/1 when the contract feeds the ROI to the encoder (else None)."""

  def __init__(self, images, rois=None):
    self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    self.rois = None if rois is None else torch.from_numpy(np.ascontiguousarray(rois, dtype=np.uint8))

  @classmethod
  def of_boxes(cls, boxes):
    """Regions of one version and no ROI channel from (N, R, R, R) boxes."""
    return cls(np.asarray(boxes)[:, None])

  def __len__(self):
    return len(self.images)

  @property
  def side(self):
    return self.images.shape[-1]

  @property
  def versions(self):
    return self.images.shape[1]

  def inputs(self, indices, versions=None):
    """The encoder's input (B, C, R, R, R) of the cases `indices` at `versions` (default: 0, unperturbed)."""
    indices = torch.as_tensor(indices)
    versions = torch.zeros_like(indices) if versions is None else torch.as_tensor(versions)
    x = self.images[indices, versions][:, None]
    if self.rois is not None:
      x = torch.cat([x, self.rois[indices, versions][:, None].to(x.dtype) * 255.0], dim=1)
    return x

  def draw_versions(self, count, generator):
    """Two different perturbed versions (1 ... V-1) for each of `count` cases, one per view, from
    `generator`; None (and nothing drawn) when the regions hold no perturbed version."""
    if self.versions < 3:
      return None
    first = torch.randint(1, self.versions, (count,), generator=generator)
    step = torch.randint(1, self.versions - 1, (count,), generator=generator)
    return first, 1 + (first - 1 + step) % (self.versions - 1)
