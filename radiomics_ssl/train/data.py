"""Training data: cases from a pyradiomics batch CSV, preprocessed once into cached boxes.

Each case goes through the same loader and `prepare_roi` as extraction, and its box is cached
as `.npy` under a key of the files' sha256, the label and the contract, so epochs never re-read
or re-resample NIfTI files and a changed file or contract is never served stale. Views that vary
the segmentation, and contracts with a ROI channel or a cube of context, cache each case's
versions (train/views.py) the same way.
"""
import hashlib
import json
import logging
import os

import numpy as np

from radiomics_ssl.cases import DICOM_COLUMNS, CaseError, crop_to_roi, input_sha256, load_row, read_batch_csv
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl.train import views

logger = logging.getLogger(__name__)


def load_training_boxes(csv_path, contract, cache_dir, skip_bad=False, progress=None, size=None):
  """-> (boxes (N, size, size, size) float32, data summary dict); `size` (default: the contract's
  box) asks for larger regions around each ROI, from which the trainer cuts its views.

  Bad rows (missing or unreadable files, 2D images, empty masks or absent labels, image/mask
  geometry mismatches, NaN in the ROI) are errors listing every offending row with its line and
  file, unless `skip_bad`, in which case they are skipped and listed in the summary.
  """
  size = size or contract.box
  identity = json.dumps(contract.identity(), sort_keys=True) + ("" if size == contract.box else f"|region {size}")

  def make(row, case_key):
    image, mask, label, _ = load_row(row)
    image, mask = crop_to_roi(image, mask, label, row["Image"], row["Mask"])
    return prepare_roi(image, mask, label, contract, size).box

  boxes, summary = _load_cases(csv_path, cache_dir, identity, make, skip_bad, progress)
  return (np.stack(boxes) if boxes else np.zeros((0,) + (size,) * 3, np.float32)), summary


def load_training_regions(csv_path, config, cache_dir, skip_bad=False, progress=None, size=None):
  """-> (views.Regions, data summary): the boxes of `load_training_boxes` (one version, no ROI
  channel) unless the contract sees the image beyond the ROI's bounding box (a cube of context, or a
  window over the cube: it must read the image as loaded, as extraction does), feeds the ROI to the
  encoder, or the views perturb the segmentation; then each case's versions (train/views.py),
  cached as one `.npz`."""
  contract, augment = config.contract, config.augment
  if not contract.sees_context and not contract.roi_channel and not augment.perturbations:
    boxes, summary = load_training_boxes(csv_path, contract, cache_dir, skip_bad, progress, size)
    return views.Regions.of_boxes(boxes), summary
  size = size or contract.box
  drawn = {"chain": augment.perturbations, "variants": augment.variants, "seed": config.seed} if augment.perturbations else {}
  identity = json.dumps([contract.identity(), size, drawn], sort_keys=True)

  def make(row, case_key):
    image, mask, label, _ = load_row(row)
    return views.case_versions(image, mask, label, contract, size, augment, config.seed, case_key)

  cases, summary = _load_cases(csv_path, cache_dir, identity, make, skip_bad, progress, versions=True)
  shape = (0, 1 + (augment.variants if augment.perturbations else 0)) + (size,) * 3
  images = np.stack([c[0] for c in cases]) if cases else np.zeros(shape, np.float32)
  rois = (np.stack([c[1] for c in cases]) if cases else np.zeros(shape, np.uint8)) if contract.roi_channel else None
  return views.Regions(images, rois), summary


def _load_cases(csv_path, cache_dir, identity, make, skip_bad, progress, versions=False):
  """Each row's `make(row, case key)`, cached under a key of the files' sha256, the label and
  `identity` (`.npy` of one array, or with `versions` `.npz` of images and rois); -> (items, summary)."""
  rows = read_batch_csv(csv_path)
  os.makedirs(cache_dir, exist_ok=True)
  items, keys, bad = [], [], []
  iterator = progress(rows, desc="preprocess", unit="case") if progress else rows
  for line, row in enumerate(iterator, start=2):
    try:
      label = str(row.get("Label") or "").strip() or "1"  # as cases.case_label reads it
      files = [input_sha256(row["Image"], "image", row.get("SeriesInstanceUID")), input_sha256(row["Mask"], "mask"), label]
      files += [str(row[column]) for column in DICOM_COLUMNS if row.get(column)]  # several ROIs of one structure set
      key = hashlib.sha256("|".join(files + [identity]).encode()).hexdigest()
      cached = os.path.join(cache_dir, f"{key}.{'npz' if versions else 'npy'}")
      if os.path.isfile(cached):
        item = _read(cached, versions)
      else:
        item = make(row, hashlib.sha256("|".join(files).encode()).hexdigest())
        _write(cached, item, versions)
    except (CaseError, ValueError) as error:
      bad.append(f"{csv_path} line {line}: {error}")
      continue
    items.append(item)
    keys.append(key)
  if bad and not skip_bad:
    raise CaseError(f"{len(bad)} unusable row(s) (use --skip-bad to skip them):\n  " + "\n  ".join(bad))
  for message in bad:
    logger.warning("skipped %s", message)
  summary = {
    "csv": os.path.abspath(csv_path), "n_rows": len(rows), "n_cases": len(items), "skipped": bad,
    "cases_sha256": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
  }
  return items, summary


def _read(path, versions):
  if not versions:
    return np.load(path)
  with np.load(path) as stored:
    return stored["images"], stored["rois"]


def _write(path, item, versions):
  """Atomically: a reader never sees half a file."""
  with open(path + ".tmp", "wb") as stream:
    if versions:
      np.savez(stream, images=item[0], rois=item[1])
    else:
      np.save(stream, item)
  os.replace(path + ".tmp", path)
