"""The files of a training run: config.yaml, metrics.jsonl, checkpoint.pt and weights.safetensors.

Checkpoints are written atomically and loaded with `weights_only=True` (no code runs); resuming
refuses a checkpoint made with another config or on other cases. The weights file is the encoder
alone, with its contract and how it was made (see radiomics_ssl.weights).
"""
import json
import os

import numpy as np
import torch

from radiomics_ssl import weights as weights_io
from radiomics_ssl.model import ARCHITECTURE

WEIGHTS_NAME = "weights.safetensors"
CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
CONFIG_NAME = "config.yaml"
LICENSE = "BSD-3-Clause (code and weights); see weights/README.md for the training data's terms"


def existing_run(out_dir):
  """The run files already in `out_dir` (empty when it holds no run)."""
  names = (CONFIG_NAME, METRICS_NAME, CHECKPOINT_NAME, WEIGHTS_NAME)
  return [name for name in names if os.path.isfile(os.path.join(out_dir, name))]


def write_config(out_dir, config):
  """The full effective config as YAML (tuples as lists)."""
  import yaml

  with open(os.path.join(out_dir, CONFIG_NAME), "w") as stream:
    yaml.safe_dump(json.loads(json.dumps(config.to_dict())), stream, sort_keys=True)


def read_metrics(out_dir, up_to_iteration):
  path = os.path.join(out_dir, METRICS_NAME)
  if not os.path.isfile(path):
    return []
  with open(path) as stream:
    records = [json.loads(line) for line in stream if line.strip()]
  return [r for r in records if r["iteration"] <= up_to_iteration]


def write_metrics(out_dir, records):
  with open(os.path.join(out_dir, METRICS_NAME), "w") as stream:
    stream.writelines(json.dumps(r) + "\n" for r in records)


def save_checkpoint(out_dir, state):
  path = os.path.join(out_dir, CHECKPOINT_NAME)
  torch.save(state, path + ".tmp")
  os.replace(path + ".tmp", path)


def load_checkpoint(out_dir, config, cases_sha256):
  """The checkpoint's state, after checking it was made with `config` (iterations aside) and on the same cases."""
  path = os.path.join(out_dir, CHECKPOINT_NAME)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no checkpoint to resume from")
  state = torch.load(path, map_location="cpu", weights_only=True)  # load_state_dict moves tensors to the device
  saved = json.loads(state["config"])
  current = config.to_dict()
  differ = sorted(key for key in current if key != "iterations" and json.dumps(saved.get(key), sort_keys=True)
                  != json.dumps(current[key], sort_keys=True))
  if differ:
    raise ValueError(f"{path}: checkpoint was made with a different config ({differ}); resume with the same settings")
  if state["cases_sha256"] != cases_sha256:
    raise ValueError(f"{path}: checkpoint was made on different cases (cases_sha256 differs); resume on the same CSV")
  return state


def export_weights(out_dir, encoder_state, encoder, config, provenance, history):
  """Write the encoder-only weights file with its contract and provenance; returns its path."""
  tail = history[-min(len(history), 10):]
  metadata = {
    "architecture": ARCHITECTURE, "arguments": encoder.arguments, "feature_dim": encoder.feature_dim,
    "contract": config.to_dict()["contract"], "trained": provenance["iterations"] > 0,
    "training": {
      "method": config.method, "config": config.to_dict(), **provenance, "torch": torch.__version__,
      "final_loss_mean10": float(np.mean([r["loss"] for r in tail])) if tail else None,
      "final_collapse_std_mean10": float(np.mean([r["collapse_std"] for r in tail])) if tail else None,
    },
    "license": LICENSE,
  }
  path = os.path.join(out_dir, WEIGHTS_NAME)
  weights_io.save(path, encoder_state, metadata)
  return path
