"""`radiomics-ssl-train` under torchrun: 2 gloo processes on CPU against one process with the same
global batch, and checkpoint/resume under DDP.

What is compared, and why. Every run pins OMP_NUM_THREADS=1 (torchrun's default for its workers):
- exactly: every discrete decision (the cases of each iteration, the RE/SE clusters, batch sizes);
- within a tolerance: the first iteration's loss (before any update) and the weights after one
  SGD step at lr 0.01. The spread was measured over 1 against 2 processes, AVX-512 against AVX2
  (ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2) and batches of 6 (3 + 3) and 5 (2 + 3): at most
  4.8e-7 on the loss and 1.6e-5 on any weight (3.7e-7 for the Rubik's cube). Tolerances: 1e-5 and 2e-4;
- not compared: later losses and weights. BatchNorm over 2-6 samples has channels of near-zero
  variance, which turn float rounding into differences of ~1e-2 in the loss within four steps
  (measured, SGD lr 0.01), whether the rounding differs by process count or by CPU. Long
  trajectories agree across process counts and CPUs only statistically; a resume on the same
  machine and process count is bitwise (last test).
"""
import json
import os
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from helpers import run

ARGS = ["--box", "16", "--spacing", "2", "--seed", "3", "--device", "cpu", "--optimizer", "sgd", "--lr", "0.01",
        "--checkpoint-every", "2"]
SE = ["--balance", "se", "--q", "3", "--se-batch", "4"]
LOSS_TOLERANCE, WEIGHT_TOLERANCE = 1e-5, 2e-4


def train(cases, out, iterations, processes, *extra):
  """Train through the CLI, under torchrun when processes > 1 -> (weights path, metrics records)."""
  launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--module"] \
    if processes > 1 else [sys.executable, "-m"]
  if processes == 1:  # DDP trains in the contiguous memory format (see Trainer)
    (out.parent / "contiguous.yaml").write_text("channels_last: false\n")
    extra += ("--config", out.parent / "contiguous.yaml")
  result = run(*launcher, "radiomics_ssl.train.cli", cases, "--out", out, "--iterations", str(iterations),
               *ARGS, *extra, env=dict(os.environ, OMP_NUM_THREADS="1"))
  assert result.returncode == 0, result.stderr[-3000:]
  return out / "weights.safetensors", [json.loads(line) for line in open(out / "metrics.jsonl")]


def assert_one_step_agrees(single, double):
  (a, single_log), (b, double_log) = single, double
  assert abs(single_log[0]["loss"] - double_log[0]["loss"]) <= LOSS_TOLERANCE
  a, b = load_file(a), load_file(b)
  assert sorted(a) == sorted(b)
  for name in a:
    np.testing.assert_allclose(b[name], a[name], rtol=0, atol=WEIGHT_TOLERANCE, err_msg=name)


@pytest.mark.parametrize("batch", ["6", "5"])  # 3 + 3, and uneven shares of 2 + 3
def test_one_step_of_two_processes_matches_one_process(synthetic_cohort, tmp_path, batch):
  single = train(synthetic_cohort, tmp_path / "one", 1, 1, "--batch-size", batch)
  double = train(synthetic_cohort, tmp_path / "two", 1, 2, "--batch-size", batch)
  assert single[1][0]["cases"] == double[1][0]["cases"] and double[1][0]["batch"] == int(batch)
  assert_one_step_agrees(single, double)


def test_two_processes_draw_the_same_batches_and_clusters(synthetic_cohort, tmp_path):
  """The global batch, the RE/SE clusters and the SE selection are those of one process."""
  _, single_log = train(synthetic_cohort, tmp_path / "one", 4, 1, *SE)
  _, double_log = train(synthetic_cohort, tmp_path / "two", 4, 2, *SE)
  for key in ("cases", "clusters", "batch", "phase"):
    assert [r[key] for r in double_log] == [r[key] for r in single_log], key
  assert [r["batch"] for r in double_log] == [6, 6, 4, 4]


def test_resume_under_ddp_is_bitwise_equal_to_an_uninterrupted_ddp_run(synthetic_cohort, tmp_path):
  """A run of 4 iterations resumed to 6 (a constant lr: a cosine schedule spans the run's total)."""
  constant = tmp_path / "constant.yaml"
  constant.write_text("lr_schedule: constant\n")
  straight, _ = train(synthetic_cohort, tmp_path / "straight", 6, 2, *SE, "--config", constant)
  train(synthetic_cohort, tmp_path / "resumed", 4, 2, *SE, "--config", constant)
  resumed, log = train(synthetic_cohort, tmp_path / "resumed", 6, 2, *SE, "--resume", "--config", constant)
  assert [r["iteration"] for r in log] == [1, 2, 3, 4, 5, 6]
  a, b = load_file(straight), load_file(resumed)
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_rubik_one_step_of_two_processes_matches_one_process(synthetic_cohort, tmp_path):
  single = train(synthetic_cohort, tmp_path / "one", 1, 1, "--method", "rubik")
  double = train(synthetic_cohort, tmp_path / "two", 1, 2, "--method", "rubik")
  assert_one_step_agrees(single, double)
