"""Validate a weights file the way its model card reports it, on the task of its modality.

  python benchmarks/validate_weights.py --weights pet-sts-32 [--compare before=path/to/old.safetensors]

- PET and MR weights: STS grade_high (n = 48) of that modality, 10 x stratified 5-fold CV, linear SVM
  (`radiomics-ssl-evaluate`): trad, ssl and trad+ssl, for the weights, a random-init encoder with
  the same contract, and every --compare file.
- CT weights: organ identity on the OpenKBP test-split patients, which CT pretraining never saw,
  grouped by patient (the task fixed in results/recipe/PREREGISTRATION.md).
- The non-collapse check on the evaluation cases: the share of the 256 dimensions that vary and
  the effective rank, against the random-init encoder's.
Writes <out>/README.md with the tables, and the ROC and correlation-density PNGs beside it.
"""
import argparse
from pathlib import Path

from pipeline import REPO, Pipeline, cell


def random_init_like(pipeline, loaded, csv_path):
  """An untrained encoder with exactly the weights' contract (through the public command line)."""
  contract = loaded.contract
  return pipeline.train(f"random-init-{loaded.name}", csv_path, "--method", "random", "--seed", "0",
                        "--modality", contract.modality, "--box", contract.box, "--spacing", contract.spacing_mm,
                        "--large-roi", contract.large_roi, "--intensity", contract.intensity,
                        "--window", *contract.window, "--cache", pipeline.work / "cache")


def main():
  from radiomics_ssl import weights as weights_io

  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--weights", required=True, help="a shipped name or a path")
  parser.add_argument("--compare", action="append", default=[], metavar="NAME=PATH", help="more weights in the table")
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--out", help="default: weights/validation/<name>")
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  loaded = weights_io.load(args.weights)
  out = Path(args.out or REPO / "weights" / "validation" / loaded.name)
  pipeline = Pipeline(out, args.data, args.repeats)
  modality = loaded.contract.modality
  files = {loaded.name: loaded.path}
  files.update(dict(item.split("=", 1) for item in args.compare))
  if modality == "CT":
    _, probe = pipeline.ct_csvs()
    files["random-init"] = random_init_like(pipeline, loaded, probe)
    ranks, results = pipeline.evaluate_ct_organs(files, out)
    task = "organ identity (7 classes) on the 83 OpenKBP test-split patients, 5-fold CV grouped by patient"
    metrics = [("accuracy", "accuracy"), ("minor-class accuracy", "minor_class_accuracy")]
  elif modality in ("PET", "MR"):
    eval_csv = pipeline.cohort_csv(f"eval-{modality}", ["sts-pet" if modality == "PET" else "sts-mr"])
    files["random-init"] = random_init_like(pipeline, loaded, eval_csv)
    ranks, results = pipeline.evaluate_sts(modality, files, out)
    task = f"STS {modality} grade_high (n = 48: 28 high, 20 not), stratified 5-fold CV"
    metrics = [("AUC", "auc"), ("sensitivity", "sensitivity"), ("specificity", "specificity")]
  else:
    raise SystemExit(f"{loaded.path}: contract modality {modality!r}: no validation task for it")
  lines = [f"# Validation of `{loaded.name}` (sha256 `{loaded.sha256[:12]}…`)\n",
           f"Task: {task}, {args.repeats} repeats, linear SVM with C chosen inside each fold; mean ± sd over repeats.\n",
           f"Command: `python benchmarks/validate_weights.py --weights {args.weights}"
           + "".join(f" --compare {item}" for item in args.compare) + "`\n",
           "| features | " + " | ".join(name for name, _ in metrics) + " |", "|---|" + "---|" * len(metrics)]
  for feature_set, row in results.items():
    lines.append(f"| {feature_set} | " + " | ".join(cell(row, key) for _, key in metrics) + " |")
  lines += ["\n### Non-collapse check (the evaluation cases)\n", "| weights | dimensions that vary | effective rank |",
            "|---|---|---|"]
  lines += [f"| {name} | {100 * share:.1f}% | {rank:.1f} |" for name, (share, rank) in ranks.items()]
  pictures = [name for name in ("roc.png", "ssl_correlation.png") if (out / name).is_file()]
  lines += ["", " ".join(f"![{name}]({name})" for name in pictures)]
  (out / "README.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
