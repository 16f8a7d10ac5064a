"""Training data: cases from a pyradiomics batch CSV, preprocessed once into cached boxes.

Each case goes through the same loader and `prepare_roi` as extraction, and its box is cached
as `.npy` under a key of the files' sha256, the label and the contract, so epochs never re-read
or re-resample NIfTI files and a changed file or contract is never served stale.
"""
import hashlib
import json
import logging
import os
from dataclasses import asdict

import numpy as np

from radiomics_ssl.cases import CaseError, case_label, crop_to_roi, file_sha256, load_case, read_batch_csv
from radiomics_ssl.preprocess import prepare_roi

logger = logging.getLogger(__name__)


def load_training_boxes(csv_path, contract, cache_dir, skip_bad=False, progress=None, size=None):
  """-> (boxes (N, size, size, size) float32, data summary dict); `size` (default: the contract's
  box) asks for larger regions around each ROI, from which the trainer cuts its views.

  Bad rows (missing or unreadable files, 2D images, empty masks or absent labels, image/mask
  geometry mismatches, NaN in the ROI) are errors listing every offending row with its line and
  file, unless `skip_bad`, in which case they are skipped and listed in the summary.
  """
  rows = read_batch_csv(csv_path)
  os.makedirs(cache_dir, exist_ok=True)
  size = size or contract.box
  contract_json = json.dumps(asdict(contract), sort_keys=True) + ("" if size == contract.box else f"|region {size}")
  boxes, keys, bad = [], [], []
  iterator = progress(rows, desc="preprocess", unit="case") if progress else rows
  for line, row in enumerate(iterator, start=2):
    try:
      label = case_label(row)
      key = hashlib.sha256("|".join([file_sha256_or_error(row["Image"], "image"),
                                     file_sha256_or_error(row["Mask"], "mask"),
                                     str(label), contract_json]).encode()).hexdigest()
      cached = os.path.join(cache_dir, f"{key}.npy")
      if os.path.isfile(cached):
        box = np.load(cached)
      else:
        image, mask = load_case(row["Image"], row["Mask"], label)
        image, mask = crop_to_roi(image, mask, label, row["Image"], row["Mask"])
        box = prepare_roi(image, mask, label, contract, size).box
        np.save(cached + ".tmp.npy", box)
        os.replace(cached + ".tmp.npy", cached)
    except (CaseError, ValueError) as error:
      bad.append(f"{csv_path} line {line}: {error}")
      continue
    boxes.append(box)
    keys.append(key)
  if bad and not skip_bad:
    raise CaseError(f"{len(bad)} unusable row(s) (use --skip-bad to skip them):\n  " + "\n  ".join(bad))
  for message in bad:
    logger.warning("skipped %s", message)
  summary = {
    "csv": os.path.abspath(csv_path), "n_rows": len(rows), "n_cases": len(boxes), "skipped": bad,
    "cases_sha256": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
  }
  return (np.stack(boxes) if boxes else np.zeros((0,) + (size,) * 3, np.float32)), summary


def file_sha256_or_error(path, role):
  if not path or not os.path.isfile(path):
    raise CaseError(f"{path}: {role} file does not exist")
  return file_sha256(path)
