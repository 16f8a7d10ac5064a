"""Image and mask perturbations of Zwanenburg et al. (Sci. Rep. 2019), as MIRP implements them:
rotation in the axial plane, sub-voxel translation, noise at the image's own noise level, volume
adaptation (the ROI grown or shrunk by a fraction of its volume) and contour randomisation
(supervoxels over the ROI's border kept with a probability equal to their overlap with the ROI).

As in TorchIO, the random choice is separate from the work: `draw` turns a seed into one
perturbation's parameters, and `apply` performs them deterministically, so every perturbed case
can be replayed from its seed. Each function takes and returns SimpleITK images; masks are binary
(1 inside the ROI) on the image's grid.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk


FIT_POINTS = 8000  # border voxels the supervoxel k-means is fitted on (all are then assigned)


@dataclass(frozen=True)
class Perturbation:
  """One perturbation's drawn parameters (neutral values where the chain leaves a step out)."""
  seed: int
  angle_deg: float = 0.0
  shift: tuple = (0.0, 0.0, 0.0)  # fractions of a voxel, (x, y, z)
  noise: bool = False
  volume_fraction: float = 0.0
  contour: bool = False

  def to_dict(self):
    return asdict(self)


def draw(seed, settings):
  """The parameters of one perturbation from `seed` (every value is drawn, used or not)."""
  rng = np.random.default_rng(seed)
  angle = float(rng.uniform(-settings.rotation_deg, settings.rotation_deg))
  shift = tuple(float(v) for v in rng.uniform(0.0, 1.0, 3))
  fraction = float(rng.uniform(-settings.volume_fraction, settings.volume_fraction))
  chain = settings.chain
  return Perturbation(seed=int(seed), angle_deg=angle if "rotation" in chain else 0.0,
                      shift=shift if "translation" in chain else (0.0, 0.0, 0.0), noise="noise" in chain,
                      volume_fraction=fraction if "volume" in chain else 0.0, contour="contour" in chain)


def apply(image, mask, perturbation, settings):
  """Perturb (image, mask) deterministically -> (image as float32, binary mask), on the image's grid."""
  rng = np.random.default_rng([perturbation.seed, 1])
  image = sitk.Cast(image, sitk.sitkFloat32)
  if perturbation.angle_deg or any(perturbation.shift):
    image, mask = move(image, mask, perturbation.angle_deg, perturbation.shift)
  if perturbation.noise:
    image = add_noise(image, noise_level(image), rng)
  if perturbation.volume_fraction:
    mask = adapt_volume(mask, perturbation.volume_fraction)
  if perturbation.contour:
    mask = randomise_contour(image, mask, settings.supervoxel_voxels, rng)
  return image, mask


def crop_around_roi(image, mask, margin_mm):
  """The image and binary mask cropped to the ROI's bounding box plus `margin_mm` on every side."""
  inside = sitk.GetArrayViewFromImage(mask) > 0
  indices = np.argwhere(inside)[:, ::-1]  # (x, y, z)
  margin = np.ceil(margin_mm / np.array(image.GetSpacing())).astype(int)
  low = np.maximum(indices.min(axis=0) - margin, 0)
  high = np.minimum(indices.max(axis=0) + margin, np.array(image.GetSize()) - 1)
  size = (high - low + 1).tolist()
  return (sitk.RegionOfInterest(image, size, low.tolist()),
          sitk.RegionOfInterest(sitk.Cast(mask > 0, sitk.sitkUInt8), size, low.tolist()))


def move(image, mask, angle_deg, shift):
  """Rotate by `angle_deg` about the ROI's centroid in the axial plane (about the image's slice
  normal) and shift by `shift` voxels (x, y, z); both resampled onto the original grid (linear for
  the image; the mask's linear interpolant, kept where >= 0.5, as MIRP does)."""
  direction = np.array(image.GetDirection()).reshape(3, 3)
  centre = roi_centroid(mask)
  transform = sitk.VersorRigid3DTransform()
  transform.SetCenter(centre)
  transform.SetRotation(direction[:, 2].tolist(), math.radians(angle_deg))
  transform.SetTranslation((direction @ (np.array(shift) * np.array(image.GetSpacing()))).tolist())
  fill = float(np.min(sitk.GetArrayViewFromImage(image)))
  moved = sitk.Resample(image, image, transform, sitk.sitkLinear, fill, sitk.sitkFloat32)
  soft = sitk.Resample(sitk.Cast(mask, sitk.sitkFloat32), mask, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
  moved_mask = sitk.Cast(soft >= 0.5, sitk.sitkUInt8)
  if not sitk.GetArrayViewFromImage(moved_mask).any():  # a ROI thinner than the grid: keep its nearest voxels
    moved_mask = sitk.Cast(soft > 0.0, sitk.sitkUInt8) if sitk.GetArrayViewFromImage(soft).max() > 0 else mask
  return moved, moved_mask


def roi_centroid(mask):
  indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].mean(axis=0)
  return mask.TransformContinuousIndexToPhysicalPoint(indices.tolist())


def noise_level(image):
  """The image's noise sd: the median absolute Haar diagonal detail of each axial slice / 0.6745
  (Donoho & Johnstone's estimator, as MIRP uses), averaged over slices."""
  array = sitk.GetArrayFromImage(image).astype(np.float64)  # (z, y, x)
  rows, cols = array.shape[1] // 2 * 2, array.shape[2] // 2 * 2
  if rows < 2 or cols < 2:
    return 0.0
  a = array[:, :rows, :cols]
  detail = (a[:, 0::2, 0::2] - a[:, 1::2, 0::2] - a[:, 0::2, 1::2] + a[:, 1::2, 1::2]) / 2.0
  return float(np.mean(np.median(np.abs(detail.reshape(len(a), -1)), axis=1)) / 0.6745)


def add_noise(image, sd, rng):
  array = sitk.GetArrayFromImage(image)
  noisy = sitk.GetImageFromArray((array + rng.normal(0.0, sd, array.shape)).astype(np.float32))
  noisy.CopyInformation(image)
  return noisy


def adapt_volume(mask, fraction):
  """The mask grown (fraction > 0) or shrunk (< 0) by round(|fraction| x volume) voxels: those
  nearest to the ROI's surface (in mm) outside it are added, or inside it removed. At least one
  voxel stays."""
  inside = sitk.GetArrayViewFromImage(mask) > 0
  volume = int(inside.sum())
  change = int(round(abs(fraction) * volume))
  if change == 0:
    return mask
  from scipy import ndimage

  spacing = np.array(mask.GetSpacing())[::-1]
  # the distance (mm) from the ROI's surface: of outside voxels to the ROI, of inside voxels to the outside
  # (scipy's exact transform; ITK's multi-threaded Maurer map differed from run to run here)
  distance = ndimage.distance_transform_edt(~inside if fraction > 0 else inside, sampling=spacing)
  candidates = np.flatnonzero(~inside if fraction > 0 else inside)
  change = min(change, candidates.size if fraction > 0 else volume - 1)
  order = candidates[np.argsort(distance.ravel()[candidates], kind="stable")][:change]
  adapted = inside.copy().ravel()
  adapted[order] = fraction > 0
  return _like(adapted.reshape(inside.shape), mask)


def randomise_contour(image, mask, supervoxel_voxels, rng):
  """Supervoxels (k-means over position in mm and intensity) over the ROI's border, a band two
  voxels deep on either side of its surface; each joins the new ROI with a probability equal to
  the share of it inside the ROI. The ROI's core (deeper than the band) always stays, as a
  supervoxel wholly inside the ROI would; clustering only the band keeps large ROIs cheap."""
  from scipy import ndimage
  from sklearn.cluster import KMeans

  inside = sitk.GetArrayViewFromImage(mask) > 0
  core = ndimage.binary_erosion(inside, iterations=2)
  band = ndimage.binary_dilation(inside, iterations=2) & ~core
  points = np.argwhere(band)
  spacing = np.array(image.GetSpacing())[::-1]
  values = sitk.GetArrayViewFromImage(image)[band].astype(np.float64)
  spread = values.std() or 1.0
  scale = float(np.mean(spacing)) * 3.0  # one intensity sd weighs like three voxels of distance
  features = np.column_stack([points * spacing, (values - values.mean()) / spread * scale])
  clusters = max(2, min(len(points) // supervoxel_voxels, 400))
  seed = int(rng.integers(2 ** 31))
  fitted = features[np.random.default_rng(seed).permutation(len(features))[:FIT_POINTS]]  # large borders: a sample
  labels = KMeans(clusters, n_init=1, max_iter=10, random_state=seed).fit(fitted).predict(features)  # 10 iterations, as SLIC
  share = np.bincount(labels, weights=inside[band].astype(float), minlength=clusters) / np.bincount(labels, minlength=clusters)
  keep = rng.random(clusters) < share
  randomised = core.copy()
  randomised[tuple(points[keep[labels]].T)] = True
  return _like(randomised if randomised.any() else inside, mask)


def _like(array, reference):
  image = sitk.GetImageFromArray(array.astype(np.uint8))
  image.CopyInformation(reference)
  return image
