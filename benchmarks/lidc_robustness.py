"""The robustness part of the LIDC study (results/lidc/PREREGISTRATION-5.md): the ssl features'
ICC(1,1) under the robustness study's perturbations on the first 200 dev nodules, beside the
classical classes on the same perturbed cases, and the four tasks with both sets filtered to
ICC >= 0.9 (the evaluator's `--robust`).

  python benchmarks/lidc.py ../shared/data results/lidc robustness --contract A7 --candidates B5 --seeds 0
  python benchmarks/lidc.py ../shared/data results/lidc robustness --contract A7 --candidates B5 --seeds 0 --chain volume

Every encoder of a chain sees the same perturbed files (the first run's perturbed/ folder is copied,
as benchmarks/robustness.py does); folders: robustness/<chain>/<encoder>/.
"""
import csv
import shutil
from pathlib import Path

import yaml

from pipeline import REPO

CASES = 200  # benchmarks/robustness.py's lidc cases: the first 200 dev nodules
PERTURBATIONS = 5  # per case, as results/robustness
DEFAULT_CHAIN = "rotation,noise,volume,contour"  # the robustness study's default chain
HELD_OUT = "volume"  # the perturbation kept out of B5's views (PREREGISTRATION-5.md)
TRAINING_CHAIN = ("rotation", "noise", "contour")
SSL_SHARE, HELD_OUT_SHARE = 0.85, 0.80  # the rule's thresholds


def cases_csv(study):
  from radiomics_ssl.datasets import cohort_rows, write_batch_csv

  path = study.work / "robustness-lidc.csv"
  if not path.is_file():
    write_batch_csv(path, cohort_rows(study.data, "lidc")[:CASES])
  return path


def chain_folder(out, chain):
  return Path(out) / "robustness" / ("default" if chain == DEFAULT_CHAIN else chain.replace(",", "+"))


def run(study, name, params, chain):
  """`radiomics-ssl-robustness` of one parameter file on the 200 nodules -> its folder (icc.csv, summary.csv)."""
  folder = chain_folder(study.out, chain) / name
  if (folder / "icc.csv").is_file():
    return folder
  done = [f for f in sorted(folder.parent.glob("*/perturbed")) if f.parent != folder]
  if done and not (folder / "perturbed").is_dir():
    shutil.copytree(done[0], folder / "perturbed")
  study.sh("radiomics-ssl-robustness", cases_csv(study), "--param", params, "--out", folder,
           "--perturbations", PERTURBATIONS, "--chain", chain, "--jobs", 2)
  return folder


def ssl_params(study, name, weights):
  """params/ssl_ct.yaml with only the ssl class and `weights`."""
  params = yaml.safe_load(open(REPO / "params" / "ssl_ct.yaml"))
  params["featureClass"] = {"ssl": None}
  params["setting"].update(sslWeights=str(weights), sslUnitsCheck=False)
  path = study.work / f"robustness-{name}.yaml"
  path.write_text(yaml.safe_dump(params))
  return path


def merged_icc(classical, ssl, target):
  """One icc.csv for `--robust`: the classical rows of one run and the ssl rows of another."""
  rows = [r for r in read_rows(classical / "icc.csv") if r["class"] != "ssl"] + \
         [r for r in read_rows(ssl / "icc.csv") if r["class"] == "ssl"]
  with open(target, "w", newline="") as stream:
    writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return target


def read_rows(path):
  with open(path, newline="") as stream:
    return list(csv.DictReader(stream))


def shares(folder):
  """{class: share of features with ICC >= 0.90} of a run."""
  return {row["class"]: float(row["share_icc_0.90"]) for row in read_rows(folder / "summary.csv")}


def robustness_stage(study, encoders, chains):
  """Run every chain for the classical features and each of {name: weights}; then the four tasks
  with both sets filtered to ICC >= 0.9 under the default chain. -> the table (markdown)."""
  classical_params = study.params(ssl=False)
  for chain in chains:
    run(study, "classical", classical_params, chain)
    for name, weights in encoders.items():
      run(study, name, ssl_params(study, name, weights), chain)
  default = chain_folder(study.out, DEFAULT_CHAIN)
  for name, weights in encoders.items():
    robust = merged_icc(default / "classical", default / name, study.work / f"icc-{name}.csv")
    features = {name: study.ssl_features(name, weights)}
    study.evaluate_tasks(features, f"robust-{name}", "trad,ssl,trad+ssl", robust=robust)
  return table(study.out)


def table(out):
  """Per chain: each classical class's share once, each encoder's ssl share, and the rule's verdict."""
  lines = ["| chain | features | share ICC(1,1) >= 0.90 | rule |", "|---|---|---|---|"]
  for folder in sorted(Path(out).glob("robustness/*")):
    runs = {run.name: shares(run) for run in sorted(folder.iterdir()) if (run / "summary.csv").is_file()}
    classical = {kind: share for kind, share in runs.pop("classical", {}).items() if kind != "ssl"}  # see Lidc.params
    for kind, share in sorted(classical.items()):
      lines.append(f"| {folder.name} | {kind} | {share:.2f} | |")
    best = max(classical.values(), default=0.0)
    for name, values in runs.items():
      share = values.get("ssl", float("nan"))
      rule = (share >= SSL_SHARE and share > best) if folder.name == "default" else \
        share >= HELD_OUT_SHARE if folder.name == HELD_OUT else None
      lines.append(f"| {folder.name} | ssl [{name}] | {share:.2f} | {'' if rule is None else 'met' if rule else 'missed'} |")
  return "\n".join(lines) + ("\n\nRule (PREREGISTRATION-5.md): default chain >= 0.85 and above every classical class "
                             "and the twin; volume alone >= 0.80.\n")
