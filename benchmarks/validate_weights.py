"""Validate a weights file on the STS cohort the way the model card reports it.

  python benchmarks/validate_weights.py [--weights sts-siam3d-48] [--data ../shared/data] [--out weights/validation]

Steps, all through the public command lines:
1. batch CSVs of the STS MR_T1 and PET cases (and the pyradiomics cases, for the sanity check);
2. a randomly initialised encoder with the same contract (`radiomics-ssl-train --method random`);
3. `pyradiomicsssl` features with the weights (classical + ssl) and with the random encoder (ssl);
4. `radiomics-ssl-evaluate` on `grade_high`, MR and PET separately: trad, ssl, trad+ssl for both;
5. the non-collapse check on all shared cases: share of the 256 dimensions that vary, and the
   effective rank (exp of the entropy of the normalised singular values) of the case x feature matrix.
"""
import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
from shared_cohort_csv import cohort_rows  # noqa: E402


def sh(*args):
  print("$", " ".join(str(a) for a in args), flush=True)
  result = subprocess.run([str(a) for a in args], text=True, stdout=subprocess.PIPE)
  if result.returncode != 0:
    raise SystemExit(f"command failed with exit code {result.returncode}")
  return result.stdout


def write_csv(path, rows):
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def ssl_matrix(path):
  with open(path, newline="") as stream:
    rows = list(csv.DictReader(stream))
  return np.array([[float(r[f"original_ssl_{i}"]) for i in range(256)] for r in rows])


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--weights", default="sts-siam3d-48")
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--out", default=str(REPO / "weights" / "validation"))
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  out = Path(args.out)
  work = out / "work"
  work.mkdir(parents=True, exist_ok=True)

  cohorts = {name: write_csv(work / f"{name}.csv", cohort_rows(args.data, name)) for name in ("sts-mr", "sts-pet", "pyradiomics")}
  everything = write_csv(work / "all.csv", sum((cohort_rows(args.data, n) for n in cohorts), []))
  from radiomics_ssl import weights as weights_io
  from radiomics_ssl.diversity import feature_diversity

  contract = weights_io.load(args.weights).contract
  random_weights = work / "random" / "weights.safetensors"
  if not random_weights.is_file():
    sh("radiomics-ssl-train", everything, "--out", work / "random", "--method", "random", "--seed", "0",
       "--box", contract.box, "--spacing", contract.spacing_mm, "--large-roi", contract.large_roi,
       "--intensity", contract.intensity, "--cache", work / "cache")

  params = REPO / "params"
  for name, csv_path in cohorts.items():
    for label, param, weights in (("shipped", "ssl.yaml", args.weights), ("random", "ssl_only.yaml", random_weights)):
      target = work / f"{name}-{label}.csv"
      if not target.is_file():
        text = sh("pyradiomicsssl", csv_path, "--param", params / param, "--setting", f"sslWeights:{weights}",
                  "--format", "csv", "--jobs", "2")
        target.write_text(text)

  report = [f"# Validation of `{args.weights}` on STS grade_high\n",
            f"Command: `python benchmarks/validate_weights.py --weights {args.weights}`\n"]
  for name in ("sts-mr", "sts-pet"):
    folder = out / name
    text = sh("radiomics-ssl-evaluate", work / f"{name}-shipped.csv", work / f"{name}-random.csv",
              "--names", "shipped,random-init", "--labels", Path(args.data) / "sts" / "labels.csv",
              "--label-column", "grade_high", "--id-column", "ID", "--label-id-column", "patient_id",
              "--repeats", args.repeats, "--out", folder)
    report.append(f"### {name}\n\n{text}")
    report.append(f"![ROC]({name}/roc.png) ![ssl correlations]({name}/ssl_correlation.png)\n")

  report.append("### Non-collapse check (all shared cases)\n")
  report.append("| weights | cases | dimensions that vary | effective rank |\n|---|---|---|---|")
  checks = {}
  for label in ("shipped", "random"):
    matrix = np.vstack([ssl_matrix(work / f"{name}-{label}.csv") for name in cohorts])
    share, rank = feature_diversity(matrix)
    checks[label] = {"cases": len(matrix), "varying_share": share, "effective_rank": rank}
    report.append(f"| {label} | {len(matrix)} | {100 * share:.1f}% | {rank:.1f} |")
  (out / "README.md").write_text("\n".join(report) + "\n")
  (out / "collapse.json").write_text(json.dumps(checks, indent=2))
  print("\n".join(report))


if __name__ == "__main__":
  main()
