"""Tiny end-to-end training runs on CPU: each balance mode, kill-and-resume, divergence, bad rows."""
import csv
import json
import os
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from safetensors.numpy import load_file

from helpers import PARAMS, bad_cases, run
from radiomics_ssl import weights as weights_io
from radiomics_ssl.cases import CaseError
from radiomics_ssl.config import Contract, TrainConfig
from radiomics_ssl.train import loop, methods
from radiomics_ssl.train.augment import region_size
from radiomics_ssl.train.data import load_training_boxes

TINY = Contract(box=16, spacing_mm=2.0)


@pytest.fixture(scope="module")
def boxes(synthetic_cohort, tmp_path_factory):
  region = region_size(TINY.box, TrainConfig().augment.context)
  data, summary = load_training_boxes(synthetic_cohort, TINY, str(tmp_path_factory.mktemp("cache")), size=region)
  return data, summary


@pytest.mark.parametrize("balance, extra", [("none", []), ("re", ["--q", "2"]), ("se", ["--q", "3", "--m", "4"]),
                                            ("se", ["--q", "3", "--m", "4", "--balance-features", "fresh"])])
def test_cli_trains_each_mode_and_pyradiomicsssl_loads_the_weights(balance, extra, synthetic_cohort, tmp_path):
  out = tmp_path / "run"
  result = run("radiomics-ssl-train", synthetic_cohort, "--out", out, "--balance", balance, "--iterations", "5",
               "--box", "16", "--spacing", "2", "--seed", "3", *extra)
  assert result.returncode == 0, result.stderr[-3000:]
  weights_file = out / "weights.safetensors"
  assert result.stdout.strip() == str(weights_file)
  metadata = weights_io.load(str(weights_file)).metadata
  assert metadata["trained"] is True and metadata["contract"]["box"] == 16
  assert metadata["training"]["config"]["balance"] == balance
  assert metadata["training"]["data"]["n_cases"] == 12 and len(metadata["training"]["data"]["cases_sha256"]) == 64
  assert "radiomics-ssl-train" in metadata["training"]["command"]
  records = [json.loads(line) for line in open(out / "metrics.jsonl")]
  assert [r["iteration"] for r in records] == [1, 2, 3, 4, 5]
  assert {r["phase"] for r in records} == ({"warmup", balance} if balance != "none" else {"warmup", "none"})
  if balance != "none":
    balanced = [r for r in records if r["phase"] == balance]
    assert all(sum(r["clusters"]) == {"re": 6, "se": 9}[balance] for r in balanced)  # N = k*q candidates
    assert all(r["batch"] == {"re": 6, "se": 4}[balance] for r in balanced)  # RE trains on N, SE on m
    fresh = "fresh" in extra
    assert all(("bank_age" in r) != fresh for r in balanced)
    assert fresh or all(0 <= r["bank_age"] <= 12 for r in balanced)
  assert [r["iteration"] for r in records if "rank" in r] == [5] and 1.0 <= records[-1]["rank"] <= 12  # the last
  assert (out / "curves.png").stat().st_size > 1000 and (out / "config.yaml").is_file()

  case = next(csv.DictReader(open(synthetic_cohort)))
  extracted = run("pyradiomicsssl", synthetic_cohort, "--param", PARAMS / "ssl_only.yaml",
                  "--setting", f"sslWeights:{weights_file}", "--format", "csv", "--out", tmp_path / "f.csv")
  assert extracted.returncode == 0, extracted.stderr[-2000:]
  rows = list(csv.DictReader(open(tmp_path / "f.csv")))
  assert len(rows) == 12 and rows[0]["ID"] == case["ID"]
  assert rows[0]["diagnostics_ssl_WeightsSha256"] == metadata["sha256"]
  assert np.isfinite([float(rows[0][f"original_ssl_{i}"]) for i in range(256)]).all()


def test_kill_and_resume_is_bitwise_equal_to_an_uninterrupted_run(boxes, tmp_path, monkeypatch):
  data, summary = boxes
  config = TrainConfig(contract=TINY, balance="se", q=3, m=4, iterations=7, checkpoint_every=2, seed=5)
  straight = loop.Trainer(config, data, str(tmp_path / "straight"), summary).run()

  interrupted = loop.Trainer(config, data, str(tmp_path / "killed"), summary)
  original_step = interrupted.step

  def step_then_die():
    if interrupted.iteration == 5:  # iteration 5 ran after the checkpoint at 4 (bank filled at 2) and is lost
      raise KeyboardInterrupt
    return original_step()

  interrupted.step = step_then_die
  with pytest.raises(KeyboardInterrupt):
    interrupted.run()
  resumed = loop.Trainer(config, data, str(tmp_path / "killed"), summary)
  assert resumed.load_checkpoint() == 4 and resumed.bank.features is not None
  final = loop.Trainer(config, data, str(tmp_path / "killed"), summary).run(resume=True)

  a, b = load_file(straight), load_file(final)
  assert sorted(a) == sorted(b)
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  losses = [[json.loads(l)["loss"] for l in open(tmp_path / d / "metrics.jsonl")] for d in ("straight", "killed")]
  assert losses[0] == losses[1] and len(losses[0]) == 7


def test_resume_refuses_a_different_config(boxes, tmp_path):
  data, summary = boxes
  config = TrainConfig(contract=TINY, iterations=2, checkpoint_every=1)
  loop.Trainer(config, data, str(tmp_path), summary).run()
  other = TrainConfig(contract=TINY, iterations=4, checkpoint_every=1, lr=0.5)
  with pytest.raises(ValueError, match=r"different config \(\['lr'\]\)"):
    loop.Trainer(other, data, str(tmp_path), summary).run(resume=True)


def test_resume_refuses_different_cases(boxes, tmp_path):
  data, summary = boxes
  config = TrainConfig(contract=TINY, iterations=2, checkpoint_every=1)
  loop.Trainer(config, data, str(tmp_path), summary).run()
  other = dict(summary, cases_sha256="0" * 64)
  with pytest.raises(ValueError, match="different cases"):
    loop.Trainer(config, data, str(tmp_path), other).run(resume=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(boxes, tmp_path, monkeypatch):
  data, summary = boxes
  config = TrainConfig(contract=TINY, iterations=6, checkpoint_every=2)
  calls = {"n": 0}
  real_loss = methods.siam_loss

  def poisoned(*args, **kwargs):
    calls["n"] += 1
    value = real_loss(*args, **kwargs)
    return value * float("nan") if calls["n"] == 3 else value

  monkeypatch.setattr(methods, "siam_loss", poisoned)
  trainer = loop.Trainer(config, data, str(tmp_path), summary)
  with pytest.raises(loop.TrainingDiverged, match="loss is nan at iteration 3"):
    trainer.run()
  assert loop.Trainer(config, data, str(tmp_path), summary).load_checkpoint() == 2
  assert not (tmp_path / "weights.safetensors").exists()


def test_every_kind_of_bad_row_is_named_in_one_report_or_skipped(synthetic_cohort, tmp_path):
  """The defects pyradiomicsssl names (missing or unreadable file, 2D, empty mask or absent label,
  geometry mismatch of origin or size, NaN in the ROI) stop the trainer with one report naming each
  row's line and file; --skip-bad trains on the rest."""
  rows = list(csv.DictReader(open(synthetic_cohort)))
  base = os.path.dirname(synthetic_cohort)
  for row in rows:
    row.update(Image=os.path.join(base, row["Image"]), Mask=os.path.join(base, row["Mask"]))
  cases, problems = bad_cases(tmp_path)
  bad = [{"ID": name, "Image": cases[name][0], "Mask": cases[name][1], "texture": 0, "centre": 0} for name in problems]
  path = tmp_path / "cases.csv"
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows + bad)
  args = ["radiomics-ssl-train", path, "--out", tmp_path / "run", "--box", "16", "--iterations", "1", "--cache", tmp_path / "c"]
  refused = run(*args)
  assert refused.returncode == 1 and not (tmp_path / "run" / "weights.safetensors").exists()
  assert f"{len(problems)} unusable row(s)" in refused.stderr
  for line, (name, problem) in enumerate(problems.items(), start=len(rows) + 2):
    assert f"{path} line {line}: " in refused.stderr and problem in refused.stderr, (name, refused.stderr)
  assert "moved_mask.nii.gz" in refused.stderr and "Exception thrown in SimpleITK" not in refused.stderr
  skipped = run(*args, "--skip-bad")
  assert skipped.returncode == 0, skipped.stderr[-2000:]
  data = weights_io.load(str(tmp_path / "run" / "weights.safetensors")).metadata["training"]["data"]
  assert data["n_cases"] == len(rows) and len(data["skipped"]) == len(problems)


def test_too_few_cases_for_the_batch_is_an_error(boxes, tmp_path):
  data, summary = boxes
  with pytest.raises(ValueError, match="3 usable case"):
    loop.Trainer(TrainConfig(contract=TINY), data[:3], str(tmp_path), summary)


def test_random_method_exports_an_honestly_untrained_encoder(synthetic_cohort, tmp_path):
  result = run("radiomics-ssl-train", synthetic_cohort, "--out", tmp_path, "--method", "random", "--box", "16")
  assert result.returncode == 0, result.stderr[-2000:]
  metadata = weights_io.load(str(tmp_path / "weights.safetensors")).metadata
  assert metadata["trained"] is False and metadata["training"]["iterations"] == 0
  assert not (tmp_path / "metrics.jsonl").exists()


def test_the_label_column_picks_each_organ_of_a_multi_label_mask(shared_data, tmp_path):
  """An OpenKBP organ mask holds several labels; each row's `Label` gives that organ's own box."""
  from radiomics_ssl.datasets import openkbp_rows, write_batch_csv

  rows = [row for row in openkbp_rows(shared_data, ("test",), ("organs",)) if row["Patient"] == "pt_245"]  # no label 1
  assert len(rows) == 5
  write_batch_csv(tmp_path / "organs.csv", rows)
  boxes, summary = load_training_boxes(tmp_path / "organs.csv", TINY, str(tmp_path / "cache"))
  assert summary["n_cases"] == len(rows) and not summary["skipped"]
  assert len({box.tobytes() for box in boxes}) == len(rows), "two organs gave the same box"


def test_vicreg_terms_train_the_encoder_outputs_and_are_logged(boxes, tmp_path):
  config = TrainConfig(contract=TINY, iterations=2, batch_size=4, variance_weight=1.0, covariance_weight=0.04,
                       rank_every=100, device="cpu")
  trainer = loop.Trainer(config, boxes[0], str(tmp_path), boxes[1])
  trainer.run()
  records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert len(records) == 2
  for record in records:
    assert record["loss"] == pytest.approx(record["siam_loss"] + record["variance_term"] + 0.04 * record["covariance_term"],
                                           rel=1e-5)
    assert record["variance_term"] >= 0 and record["covariance_term"] > 0
