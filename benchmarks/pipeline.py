"""What the studies in benchmarks/ share: cohort CSVs, and the public command lines run with their
wall times logged (`radiomics-ssl-train`, `pyradiomicsssl`, `radiomics-ssl-evaluate`). Finished steps
are reused, so a study can be stopped and started again; only complete outputs are kept.
"""
import csv
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
CT_SETS = {"CT-ptv": ("ptv70",), "CT-all": ("ptv70", "organs")}  # OpenKBP ROIs of the CT pretraining sets
STS_LABELS = ("--label-column", "grade_high", "--id-column", "ID", "--label-id-column", "patient_id")


class Pipeline:

  def __init__(self, out, data, repeats=10):
    self.out, self.data, self.repeats = Path(out), Path(data), repeats
    self.work = self.out / "work"
    self.work.mkdir(parents=True, exist_ok=True)
    self.log_path = self.out / "commands.jsonl"

  def sh(self, *args):
    """Run a command, log it with its wall time, fail loudly."""
    command = [str(a) for a in args]
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command)
    seconds = time.perf_counter() - started
    with open(self.log_path, "a") as log:
      log.write(json.dumps({"command": " ".join(command), "seconds": round(seconds, 1), "exit": result.returncode}) + "\n")
    if result.returncode != 0:
      raise SystemExit(f"command failed with exit code {result.returncode}: {' '.join(command)}")
    return seconds

  def cohort_csv(self, name, cohorts):
    """A batch CSV of radiomics_ssl.datasets cohorts."""
    from radiomics_ssl.datasets import cohort_rows, write_batch_csv

    path = self.work / f"{name}.csv"
    if not path.is_file():
      write_batch_csv(path, sum((cohort_rows(self.data, c) for c in cohorts), []))
    return path

  def ct_csvs(self):
    """CT pretraining CSVs (OpenKBP train+validation patients, PTV70 only or with every organ, plus the
    pyradiomics lung CTs) and the probe CSV (every organ of the held-out test-split patients)."""
    from radiomics_ssl.datasets import openkbp_rows, pyradiomics_rows, write_batch_csv

    paths = {name: self.work / f"train-{name}.csv" for name in CT_SETS}
    for name, rois in CT_SETS.items():
      if not paths[name].is_file():
        write_batch_csv(paths[name], openkbp_rows(self.data, ("train", "validation"), rois) + pyradiomics_rows(self.data, "CT"))
    probe = self.work / "probe-CT.csv"
    if not probe.is_file():
      write_batch_csv(probe, openkbp_rows(self.data, ("test",), ("organs",)))
    return paths, probe

  def train(self, run, csv_path, *options):
    """`radiomics-ssl-train` into runs/<run> (reused when its weights exist) -> the weights path."""
    folder = self.out / "runs" / run
    if not (folder / "weights.safetensors").is_file():
      # --skip-bad: rows the encoder cannot see (OpenKBP has a one-slice larynx contour, thinner than
      # the 2 mm grid) are skipped and listed in the weights' data summary
      self.sh("radiomics-ssl-train", csv_path, "--out", folder, "--skip-bad", *options)
    return folder / "weights.safetensors"

  def random_init(self, name, modality, csv_path):
    """The untrained encoder with the modality's contract: the baseline every table carries."""
    return self.train(f"{name}-random-init", csv_path, "--method", "random", "--modality", modality, "--seed", "0",
                      "--cache", self.work / f"cache-{name}")

  def _extracted(self, target, eval_csv, params, *settings):
    target.parent.mkdir(exist_ok=True)
    if not target.is_file():
      partial = target.with_suffix(".partial")
      partial.unlink(missing_ok=True)  # pyradiomics appends to an existing --out file
      self.sh("pyradiomicsssl", eval_csv, "--param", params, *settings, "--jobs", "2", "--format", "csv", "--out", partial)
      partial.replace(target)
    return target

  def extract(self, eval_csv, weights, name):
    """The ssl features of `eval_csv` with `weights` -> features/<name>.csv."""
    return self._extracted(self.out / "features" / f"{name}.csv", eval_csv, REPO / "params" / "ssl_only.yaml",
                           "--setting", f"sslWeights:{weights}")

  def classical(self, eval_csv, name):
    """pyradiomics' default classes (params/ssl.yaml without ssl) -> features/<name>-classical.csv."""
    params = yaml.safe_load(open(REPO / "params" / "ssl.yaml"))
    params["featureClass"].pop("ssl")
    params["setting"] = {k: v for k, v in params["setting"].items() if not k.startswith("ssl")}
    param_file = self.work / "classical.yaml"
    param_file.write_text(yaml.safe_dump(params))
    return self._extracted(self.out / "features" / f"{name}-classical.csv", eval_csv, param_file)

  def evaluate(self, features, trad, folder, *label_options):
    """`radiomics-ssl-evaluate` of {name: features CSV} beside `trad` -> ({name: (share varying, effective
    rank)}, {feature set: results.csv row})."""
    from radiomics_ssl.diversity import feature_diversity

    ranks = {name: feature_diversity(ssl_matrix(path)) for name, path in features.items()}
    self.sh("radiomics-ssl-evaluate", *features.values(), "--trad", trad, "--names", ",".join(features),
            *label_options, "--repeats", self.repeats, "--out", folder)
    with open(Path(folder) / "results.csv", newline="") as stream:
      return ranks, {row["feature_set"]: row for row in csv.DictReader(stream)}

  def evaluate_sts(self, modality, features, folder):
    """STS grade_high (MR_T1 or PET), the named validation cohort."""
    eval_csv = self.cohort_csv(f"eval-{modality}", [{"PET": "sts-pet", "MR": "sts-mr"}[modality]])
    features = {name: self.extract(eval_csv, path, f"{modality}-{name}") for name, path in features.items()}
    return self.evaluate(features, self.classical(eval_csv, modality), folder, "--labels",
                         self.data / "sts" / "labels.csv", *STS_LABELS)

  def evaluate_ct_organs(self, features, folder):
    """Organ identity on the held-out OpenKBP test-split patients, grouped by patient."""
    _, probe = self.ct_csvs()
    features = {name: self.extract(probe, path, f"CT-probe-{name}") for name, path in features.items()}
    return self.evaluate(features, self.classical(probe, "CT-probe"), folder, "--label-column", "Label",
                         "--id-column", "ID", "--group-column", "Patient")


def ssl_matrix(path):
  with open(path, newline="") as stream:
    rows = list(csv.DictReader(stream))
  return np.array([[float(r[f"original_ssl_{i}"]) for i in range(256)] for r in rows])


def cell(row, metric):
  """'mean ± sd' of a results.csv row's metric."""
  return f"{float(row[f'{metric}_mean']):.3f} ± {float(row[f'{metric}_sd']):.3f}" if row else ""


def study_arguments(description):
  """The argument parser of a study script: the shared data folder and the study's output folder."""
  import argparse

  parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("data_dir", help="the shared data (../shared/data)")
  parser.add_argument("out", help="the study's folder under results/")
  return parser
