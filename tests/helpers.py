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
  encoder = Encoder3d()
  metadata = {"architecture": ARCHITECTURE, "arguments": encoder.arguments, "feature_dim": 256,
              "contract": asdict(Contract(box=box, spacing_mm=2.0, **contract)), "trained": False,
              "training": None, "license": "test"}
  weights.save(str(path), encoder.state_dict(), metadata)
  return str(path)


def run(*args, cwd=None, timeout=900):
  """Run a command (console scripts of this package included); returns CompletedProcess."""
  return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
