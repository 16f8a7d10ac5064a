"""radiomics-ssl-robustness on real nodules: ICC per feature and class, a bad case named, resume
after a kill; and the evaluator's robust-feature filter."""
import csv
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from helpers import PARAMS, read_rows, run, write_cases
from radiomics_ssl.datasets import cohort_rows

ARGS = ("--param", PARAMS / "ssl_ct.yaml", "--perturbations", "3", "--jobs", "2")


@pytest.fixture(scope="module")
def nodules(shared_data, tmp_path_factory):
  folder = tmp_path_factory.mktemp("nodules")
  rows = cohort_rows(shared_data, "lidc")[:5]
  return write_cases(folder / "cases.csv", rows, ("ID", "Patient", "Image", "Mask", "malignant")), rows


@pytest.fixture(scope="module")
def uninterrupted(nodules, tmp_path_factory):
  out = tmp_path_factory.mktemp("robust") / "out"
  result = run("radiomics-ssl-robustness", nodules[0], *ARGS, "--out", out)
  assert result.returncode == 0, result.stderr[-3000:]
  return out, result


def test_every_feature_gets_an_icc_and_every_class_a_summary(uninterrupted):
  out, result = uninterrupted
  rows = read_rows(out / "icc.csv")
  classes = {row["class"] for row in rows}
  assert classes == {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "ssl"}
  assert sum(row["class"] == "ssl" for row in rows) == 256 and len(rows) == 256 + 107
  iccs = np.array([float(row["icc"]) for row in rows])
  assert np.isfinite(iccs).mean() > 0.9 and np.nanmax(iccs) <= 1
  for row in rows:
    if np.isfinite(float(row["icc"])):
      assert float(row["ci_low"]) <= float(row["icc"]) <= float(row["ci_high"])
  summary = (out / "summary.md").read_text()
  assert (out / "icc.png").stat().st_size > 5000 and "| ssl | 256 | " in summary
  robust = sum(row["class"] == "ssl" and float(row["icc"]) >= 0.9 for row in rows)
  assert f"of 256 | {robust} of 256 |" in summary  # counts, not a share rounded to 1.00
  assert f"ssl: {robust} of 256 features with ICC >= 0.90" in result.stdout
  assert len(read_rows(out / "features.csv")) == 5 * 3


def test_a_bad_case_is_named_and_skipped(nodules, tmp_path):
  batch, rows = nodules
  broken = write_cases(tmp_path / "cases.csv", rows[:3] + [dict(rows[0], ID="lost", Image=str(tmp_path / "absent.nii.gz"))],
                       ("ID", "Image", "Mask"))
  result = run("radiomics-ssl-robustness", broken, *ARGS, "--out", tmp_path / "out")
  assert result.returncode == 1
  assert "failed: lost: " in result.stderr and "absent.nii.gz: image file does not exist" in result.stderr
  assert {row["n_cases"] for row in read_rows(tmp_path / "out" / "icc.csv")} == {"3"}


def test_a_killed_run_resumes_and_gives_the_uninterrupted_result(nodules, uninterrupted, tmp_path):
  out = tmp_path / "out"
  command = ["radiomics-ssl-robustness", str(nodules[0]), *map(str, ARGS), "--out", str(out)]
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
  deadline = time.time() + 120
  while time.time() < deadline and len(list((out / "per_case").glob("*.csv"))) < 4 if (out / "per_case").is_dir() else True:
    if time.time() > deadline or process.poll() is not None:
      break
    time.sleep(0.1)
  os.killpg(process.pid, signal.SIGKILL)
  process.wait()
  assert not (out / "icc.csv").exists()  # killed mid-run
  resumed = run("radiomics-ssl-robustness", *command[1:])
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "recomputed" not in resumed.stderr
  assert read_rows(out / "icc.csv") == read_rows(uninterrupted[0] / "icc.csv")


def test_the_evaluator_keeps_only_robust_features(nodules, uninterrupted, tmp_path):
  out, _ = uninterrupted
  iccs = {row["feature"]: float(row["icc"]) for row in read_rows(out / "icc.csv")}
  features = tmp_path / "features.csv"
  rng = np.random.default_rng(0)
  ids = [f"N{i:02d}" for i in range(40)]
  with open(features, "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(["ID", "y"] + list(iccs))
    for i, case in enumerate(ids):
      writer.writerow([case, i % 2] + rng.normal(size=len(iccs)).tolist())
  result = run("radiomics-ssl-evaluate", features, "--label-column", "y", "--id-column", "ID", "--repeats", "1",
               "--robust", out / "icc.csv", "--min-icc", "0.9", "--out", tmp_path / "eval")
  assert result.returncode == 0, result.stderr[-2000:]
  robust_trad = sum(1 for f, v in iccs.items() if v >= 0.9 and "_ssl_" not in f)
  robust_ssl = sum(1 for f, v in iccs.items() if v >= 0.9 and "_ssl_" in f)
  assert f"trad: {robust_trad} robust feature(s) kept" in result.stderr
  assert f"ssl [features]: {robust_ssl} robust feature(s) kept" in result.stderr
  rows = {row["feature_set"]: row for row in read_rows(tmp_path / "eval" / "results.csv")}
  assert rows["trad"]["n_features"] == str(robust_trad) and rows["trad+ssl [features]"]["n_features"] == str(robust_trad + robust_ssl)
