"""Reading the LIDC study's evaluation folders (eval/<task>-<stage>/), and PREREGISTRATION-5.md's
table: candidate x seed, beside trad, B2 and the untrained twins on the same folds.
"""
import csv
from pathlib import Path

import numpy as np

from lidc_robustness import DEFAULT_CHAIN, HELD_OUT, chain_folder, read_rows
from radiomics_ssl.datasets import LIDC_LABELS

VIEW_CONTRACT_TAGS = {"A1": "", "A7": ".A7", "A8": ".A8"}  # contract -> the suffix of its rows' names
CANDIDATE_IDS = {"A1": "V1", "A7": "V2", "A8": "V3"}  # PREREGISTRATION-5.md's candidates (recipe B5)
SEEDS = (0, 1, 2)


def read_results(folder):
  with open(folder / "results.csv", newline="") as stream:
    return {row["feature_set"]: row for row in csv.DictReader(stream)}


def per_repeat_auc(folder):
  """{feature set: [AUC of repeat r]} from predictions.csv: the mean of the repeat's per-fold AUCs,
  as the table's (so that paired gains use the same folds)."""
  from sklearn.metrics import roc_auc_score

  folds = {}
  with open(folder / "predictions.csv", newline="") as stream:
    for row in csv.DictReader(stream):
      entry = folds.setdefault((row["feature_set"], int(row["repeat"]), int(row["fold"])), ([], []))
      entry[0].append(row["y_true"] == "1")
      entry[1].append(float(row["score"]))
  aucs = {}
  for (name, repeat, _), (truth, scores) in sorted(folds.items()):
    if 0 < sum(truth) < len(truth):
      aucs.setdefault(name, {}).setdefault(repeat, []).append(roc_auc_score(truth, scores))
  return {name: [float(np.mean(by_repeat[r])) for r in sorted(by_repeat)] for name, by_repeat in aucs.items()}


def stage_done(out, stage):
  """Whether every task of an evaluation stage has its results (a running stage has not)."""
  return all((out / "eval" / f"{task}-{stage}" / "results.csv").is_file() for task in LIDC_LABELS)


def predictions_kept(out, stage):
  """Whether every task of a stage still has its predictions (not kept in git: a fresh checkout has none)."""
  return all((out / "eval" / f"{task}-{stage}" / "predictions.csv").is_file() for task in LIDC_LABELS)


def combination_gain(out, stage, name):
  """trad+ssl [name] − trad over the four tasks: the mean, and the sd over repeats of the four-task
  mean where the predictions are kept (paired, same folds) -> text, or '' when not run."""
  if not stage_done(out, stage):
    return ""
  folders = [out / "eval" / f"{task}-{stage}" for task in LIDC_LABELS]
  if predictions_kept(out, stage):
    diffs = []
    for folder in folders:
      repeats = per_repeat_auc(folder)
      diffs.append(np.array(repeats[f"trad+ssl [{name}]"]) - np.array(repeats["trad"]))
    mean = np.mean(diffs, axis=0)
    return f"{mean.mean():+.3f} ± {mean.std(ddof=1):.3f}"
  rows = [read_results(folder) for folder in folders]
  return f"{np.mean([float(r[f'trad+ssl [{name}]']['auc_mean']) - float(r['trad']['auc_mean']) for r in rows]):+.3f}"


def ssl_icc(out, chain, file):
  """(share of ssl features with ICC >= 0.9, median ICC) of an encoder's robustness run, or None."""
  path = chain_folder(out, chain) / file / "summary.csv"
  if not path.is_file():
    return None
  row = next(r for r in read_rows(path) if r["class"] == "ssl")
  return float(row["share_icc_0.90"]), float(row["median_icc"])


def encoder_rows(out):
  """[(seed, label, name in the evaluations, weights file name, pretrain stage, its twin's label)] of the
  stages run, each encoder once per seed (A1's twin is in both V1's and B2's stages)."""
  rows = []
  for seed in SEEDS:
    candidates = [(c, f"{CANDIDATE_IDS[c]} (B5 on {c})", f"B5{t}-s{seed}", f"B5-{c}-s{seed}",
                   f"pretrain-B5{t.replace('.', '-')}-s{seed}") for c, t in VIEW_CONTRACT_TAGS.items()]
    candidates.append(("A1", "B2", f"B2-s{seed}", f"B2-A1-s{seed}", f"pretrain-B2-s{seed}"))  # after V1: its
    # twin's row then comes from V1's stage, whose paired predictions are kept
    labels = set()
    for contract, label, name, file, stage in candidates:
      if not stage_done(out, stage):
        continue
      twin = f"untrained {contract}"
      for row in ((twin, f"untrained{VIEW_CONTRACT_TAGS[contract]}-s{seed}", f"{contract}-s{seed}", None),
                  (label, name, file, twin)):
        if row[0] not in labels:
          labels.add(row[0])
          rows.append((seed, *row[:3], stage, row[3]))
  return rows


def views_table(out):
  """PREREGISTRATION-5.md's table from whatever has been run (rows not run are absent)."""
  out = Path(out)
  head = ["seed", "encoder"] + list(LIDC_LABELS) + ["mean AUC", "− twin", "ICC ≥ 0.9, default chain",
                                                   f"ICC ≥ 0.9, {HELD_OUT} alone", "median ICC (default)",
                                                   "trad+ssl − trad", "trad+ssl − trad, ICC ≥ 0.9 sets"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  rows = encoder_rows(out)
  if rows:
    stage = rows[0][4]
    trad = [float(read_results(out / "eval" / f"{t}-{stage}")["trad"]["auc_mean"]) for t in LIDC_LABELS]
    lines.append("| | trad (107 classical) | " + " | ".join(f"{a:.3f}" for a in trad) + f" | {np.mean(trad):.3f} |" + " |" * 6)
  means = {}
  for seed, label, name, file, stage, twin in rows:
    aucs = [float(read_results(out / "eval" / f"{t}-{stage}")[f"ssl [{name}]"]["auc_mean"]) for t in LIDC_LABELS]
    means[(seed, label)] = np.mean(aucs)
    gain = f"{means[(seed, label)] - means[(seed, twin)]:+.3f}" if (seed, twin) in means else ""
    icc = [ssl_icc(out, chain, file) for chain in (DEFAULT_CHAIN, HELD_OUT)]
    cells = [f"{icc[0][0]:.2f}" if icc[0] else "not run", f"{icc[1][0]:.2f}" if icc[1] else "not run",
             f"{icc[0][1]:.3f}" if icc[0] else ""]
    lines.append(f"| {seed} | {label} | " + " | ".join(f"{a:.3f}" for a in aucs) + f" | {means[(seed, label)]:.3f} | {gain} | "
                 + " | ".join(cells) + f" | {combination_gain(out, stage, name)} | {combination_gain(out, f'robust-{file}', file)} |")
  return "\n".join(lines) + (
    "\n\nssl AUC: mean of 10 repeats of 5-fold CV grouped by patient, the same folds for every row. − twin: the"
    " four-task mean minus the untrained encoder's of the same contract and seed. ICC(1,1) over 5 perturbations"
    " of the first 200 dev nodules. trad+ssl − trad: four-task mean, ± the sd over repeats where paired"
    " predictions are kept; the last column filters both sets to ICC ≥ 0.9 under the default chain.\n")
