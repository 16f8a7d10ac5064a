"""Helpers shared by the tests (importable because pyproject sets pythonpath = tests)."""
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params"
PYRADIOMICS_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def shared_data_dir():
  """../shared/data beside the repository (or $RADIOMICS_SSL_SHARED_DATA). Missing data is a failure, not a skip."""
  path = Path(os.environ.get("RADIOMICS_SSL_SHARED_DATA", REPO.parent / "shared" / "data"))
  if not (path / "pyradiomics" / "brain1_image.nrrd").is_file():
    pytest.fail(f"shared test data not found at {path}; set RADIOMICS_SSL_SHARED_DATA")
  return path


def make_untrained_weights(path, box=16, seed=0, **contract):
  """A weights file of a randomly initialised encoder, honestly marked untrained."""
  import torch

  from radiomics_ssl import weights
  from radiomics_ssl.config import Contract
  from radiomics_ssl.model import ARCHITECTURE, Encoder3d

  torch.manual_seed(seed)
  contract = Contract(**dict(dict(box=box, spacing_mm=2.0), **contract))
  encoder = Encoder3d(in_channels=contract.channels, pooling=contract.pooling) if contract.channels > 1 else Encoder3d()
  metadata = {"architecture": ARCHITECTURE, "arguments": encoder.arguments, "feature_dim": 256,
              "contract": asdict(contract), "trained": False,
              "training": None, "license": "test"}
  weights.save(str(path), encoder.state_dict(), metadata)
  return str(path)


def run(*args, cwd=None, timeout=900, env=None):
  """Run a command (console scripts of this package included); returns CompletedProcess."""
  return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


def write_image(array, path, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
  import SimpleITK as sitk

  image = sitk.GetImageFromArray(array)
  image.SetSpacing(spacing[: image.GetDimension()])
  image.SetOrigin(origin[: image.GetDimension()])
  sitk.WriteImage(image, str(path))
  return str(path)


def bad_cases(folder):
  """Image/mask pairs with every defect the extractor and the trainer must name: {case id: (image,
  mask)} with a good case first and last, and {case id: the problem expected in the report}."""
  import numpy as np

  rng = np.random.default_rng(0)
  pixels = rng.normal(100, 20, (24, 32, 32)).astype(np.float32)
  roi = np.zeros((24, 32, 32), np.uint8)
  roi[8:16, 10:22, 10:22] = 1
  nan_pixels = pixels.copy()
  nan_pixels[12, 15, 15] = np.nan
  image = write_image(pixels, folder / "image.nii.gz")
  mask = write_image(roi, folder / "mask.nii.gz")
  (folder / "broken.nii.gz").write_bytes(b"not an image")
  cases = {
    "good": (image, mask),
    "missing": (str(folder / "absent.nii.gz"), mask),
    "unreadable": (str(folder / "broken.nii.gz"), mask),
    "empty": (image, write_image(np.zeros_like(roi), folder / "empty_mask.nii.gz")),
    "label": (image, write_image(roi * 2, folder / "label2_mask.nii.gz")),
    "geometry": (image, write_image(roi, folder / "moved_mask.nii.gz", origin=(30.0, 0.0, 0.0))),
    "size": (image, write_image(roi[:20], folder / "short_mask.nii.gz")),
    "nan": (write_image(nan_pixels, folder / "nan_image.nrrd"), mask),  # ITK NIfTI writing drops NaN
    "flat": (write_image(pixels[12], folder / "slice_image.nii.gz"), write_image(roi[12], folder / "slice_mask.nii.gz")),
    "good_again": (image, mask),
  }
  problems = {
    "missing": "absent.nii.gz: image file does not exist",
    "unreadable": "broken.nii.gz: cannot read image",
    "empty": "empty_mask.nii.gz: label 1 is absent from the mask",
    "label": "label2_mask.nii.gz: label 1 is absent from the mask (labels present: [0, 2])",
    "geometry": "geometry mismatch",
    "size": "short_mask.nii.gz: image/mask geometry mismatch: mask size [32, 32, 20] vs image size [32, 32, 24]",
    "nan": "nan_image.nrrd: 1 NaN or infinite voxel(s) inside the ROI",
    "flat": "slice_image.nii.gz: image is 2D",
  }
  return cases, problems


def read_rows(path):
  """The rows of a CSV file as dicts."""
  import csv

  with open(path, newline="") as stream:
    return list(csv.DictReader(stream))


def write_cases(path, rows, columns=("ID", "Image", "Mask")):
  """A batch CSV of `rows` (dicts) with `columns`; returns the path."""
  import csv

  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(columns))
    writer.writeheader()
    writer.writerows({column: row[column] for column in columns} for row in rows)
  return path
