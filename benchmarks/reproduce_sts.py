"""Table 2 and Fig. 4 of the paper, reproduced on the STS cohort (grade_high and grade, MR_T1 and PET),
with the paper's training recipe (params/train/paper.yaml) at a smaller box.

  python benchmarks/reproduce_sts.py --out results/sts-24 --box 24 --iterations 150 --repeats 5

1. Preprocess all shared cases under one contract (cached), and extract the classical pyradiomics
   features of the STS volumes once (params/ssl.yaml without ssl).
2. Pretrain on all 107 shared volumes, labels unused: 3DSiam with none, RE and SE, the Rubik's
   cube pretext [25], a random-init encoder, and the Fig. 4 sweeps (SE with k in 2..5 at m = 6,
   and m in 2..8 at k = 3).
3. Encode the STS volumes with each encoder and run the paper's protocol (linear SVM, stratified
   5-fold CV, repeated) at full and 50% labels: trad, ssl, trad+ssl per variant, for grade_high
   (sensitivity/specificity/AUC) and the three-class grade (overall/minor-class accuracy, Low minor).
4. The supervised row: the same encoder trained with weighted cross-entropy inside each fold
   (grade_high only; `--supervised-epochs 0` skips it).
"""
import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO / "params" / "train" / "paper.yaml"

SWEEP_K = (2, 3, 4, 5)
SWEEP_M = (2, 4, 6, 8)


def variants(base, sweeps):
  """name -> TrainConfig; 'k=0' in Fig. 4 is the 'none' variant."""
  out = {"random-init": replace(base, method="random"), "Rubik's cube": replace(base, method="rubik"),
         "3DSiam": replace(base, balance="none"),
         "3DSiam+RE": replace(base, balance="re"), "3DSiam+SE": replace(base, balance="se")}
  if sweeps:
    out.update({f"SE k={k}": replace(base, balance="se", k=k) for k in SWEEP_K if k != base.k})
    out.update({f"SE m={m}": replace(base, balance="se", m=m) for m in SWEEP_M if m != base.m})
  return out


def classical_features(rows, path):
  """{ID-modality: 107 classical features} from pyradiomics with params/ssl.yaml minus ssl (cached)."""
  if path.is_file():
    return json.loads(path.read_text())
  from radiomics.featureextractor import RadiomicsFeatureExtractor
  from tqdm import tqdm

  import radiomics_ssl

  radiomics_ssl.register()

  from radiomics_ssl.cases import load_case

  extractor = RadiomicsFeatureExtractor(str(REPO / "params" / "ssl.yaml"))
  extractor.enabledFeatures.pop("ssl")
  features = {}
  for row in tqdm(rows, desc="classical features"):
    vector = extractor.execute(*load_case(row["Image"], row["Mask"]))
    features[f"{row['ID']}-{row['Cohort']}"] = [float(v) for k, v in vector.items() if k.startswith("original_")]
  path.write_text(json.dumps(features))
  return features


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--out", default=str(REPO / "results" / "sts"))
  parser.add_argument("--box", type=int, default=24)
  parser.add_argument("--spacing", type=float, default=None, help="default: 96 mm / box")
  parser.add_argument("--iterations", type=int, default=150)
  parser.add_argument("--lr", type=float, default=1e-2)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
  parser.add_argument("--no-sweeps", action="store_true")
  parser.add_argument("--supervised-epochs", type=int, default=20, help="0 skips the supervised row")
  args = parser.parse_args()
  import torch
  from tqdm import tqdm

  import yaml

  from radiomics_ssl.config import Protocol, TrainConfig
  from radiomics_ssl.datasets import cohort_rows, write_batch_csv
  from radiomics_ssl.evaluate.compare import compare, feature_sets
  from radiomics_ssl.evaluate.protocol import metrics
  from radiomics_ssl.train.augment import centre_crop
  from radiomics_ssl.config import SupervisedConfig
  from radiomics_ssl.evaluate.supervised import cross_validate_supervised
  from radiomics_ssl.diversity import feature_diversity
  from radiomics_ssl.inference import LoadedEncoder
  from radiomics_ssl.train.data import load_training_boxes
  from radiomics_ssl.train.loop import Trainer
  from radiomics_ssl import weights as weights_io

  started = time.perf_counter()
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  paper = yaml.safe_load(open(PAPER_CONFIG))  # the paper's recipe, at a box this CPU can train
  paper["contract"].update(box=args.box, spacing_mm=args.spacing or 96.0 / args.box, large_roi="resize")
  base = TrainConfig.from_dict(dict(paper, iterations=args.iterations, lr=args.lr, seed=args.seed,
                                    checkpoint_every=args.iterations), source=str(PAPER_CONFIG))
  contract = base.contract
  all_rows = sum((cohort_rows(args.data, c) for c in ("sts-mr", "sts-pet", "pyradiomics")), [])
  csv_path = write_batch_csv(out / "cases.csv", all_rows)
  boxes, summary = load_training_boxes(csv_path, contract, str(REPO / "runs" / "cache"), progress=tqdm)
  keys = [f"{r['ID']}-{r['Cohort']}" for r in all_rows]
  labels = {r["patient_id"]: r for r in csv.DictReader(open(Path(args.data) / "sts" / "labels.csv"))}
  trad = classical_features([r for r in all_rows if r["Cohort"] != "pyradiomics"], out / "classical.json")

  chosen = variants(base, not args.no_sweeps)
  if args.only:
    chosen = {name: config for name, config in chosen.items() if name in args.only}
  encoded, diversity = {}, {}
  for name, config in chosen.items():
    folder = out / "runs" / name.replace(" ", "_").replace("=", "").replace("'", "")
    path = folder / "weights.safetensors"
    if not path.is_file():
      Trainer(config, boxes, str(folder), summary).run(progress=tqdm)
    encoder = LoadedEncoder(weights_io.load(str(path)), torch.device("cpu"))
    features = np.vstack([encoder.encode(boxes[i:i + 16]) for i in range(0, len(boxes), 16)])
    encoded[name] = dict(zip(keys, features))
    diversity[name] = feature_diversity(features)

  lines = [f"# STS reproduction of Table 2 and Fig. 4\n",
           f"Contract {contract.box}^3 at {contract.spacing_mm:g} mm; {args.iterations} iterations, the paper's recipe, lr "
           f"{args.lr:g}; stratified 5-fold CV x {args.repeats} repeats; seed {args.seed}; supervised "
           f"{args.supervised_epochs} epochs per fold.\n",
           f"Command: `python benchmarks/reproduce_sts.py {' '.join(sys.argv[1:])}`\n",
           "| encoder | dims that vary | effective rank (107 cases) |", "|---|---|---|"]
  lines += [f"| {name} | {100 * share:.0f}% | {rank:.1f} |" for name, (share, rank) in diversity.items()]
  table_rows = []
  for modality in ("sts-mr", "sts-pet"):
    for task, positive in (("grade_high", "1"), ("grade", None)):
      cases = [pid for pid, r in labels.items() if r[task] not in ("", "N/A")]
      y = np.array([labels[pid][task] for pid in cases])
      trad_x = np.array([trad[f"{pid}-{modality}"] for pid in cases])
      for fraction in (1.0, 0.5):
        protocol = Protocol(repeats=args.repeats, label_fraction=fraction, seed=args.seed)
        ssl = {name: np.array([encoded[name][f"{pid}-{modality}"] for pid in cases]) for name in chosen}
        _, results = compare(feature_sets(trad_x, ssl), y, protocol, positive=positive or "1", progress=tqdm)
        if task == "grade_high" and args.supervised_epochs:
          case_boxes = centre_crop(torch.from_numpy(boxes[[keys.index(f"{pid}-{modality}") for pid in cases]]),
                                   contract.box).numpy()
          results["Supervised"] = cross_validate_supervised(case_boxes, y, protocol,
                                                            SupervisedConfig(epochs=args.supervised_epochs), tqdm)
        for name, records in results.items():
          result = metrics(records, positive=positive or "1")
          table_rows.append({"modality": modality, "task": task, "labels": f"{fraction:.0%}", "features": name,
                             **{k: f"{m:.3f} ± {s:.3f}" for k, (m, s) in result.items()}})
  with open(out / "table2.csv", "w", newline="") as stream:
    fields = list(dict.fromkeys(k for r in table_rows for k in r))  # first-seen order
    writer = csv.DictWriter(stream, fields)
    writer.writeheader()
    writer.writerows(table_rows)
  for modality in ("sts-mr", "sts-pet"):
    for task, columns in (("grade_high", ("sensitivity", "specificity", "auc")), ("grade", ("accuracy", "minor_class_accuracy"))):
      lines += [f"\n## {modality}, {task}\n", "| features | " + " | ".join(f"{c} ({f})" for f in ("100%", "50%") for c in columns) + " |",
                "|---|" + "---|" * (2 * len(columns))]
      names = [r["features"] for r in table_rows if r["modality"] == modality and r["task"] == task and r["labels"] == "100%"]
      for name in names:
        cells = [next(r for r in table_rows if r["modality"] == modality and r["task"] == task and r["labels"] == f
                      and r["features"] == name)[c] for f in ("100%", "50%") for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
  if not args.no_sweeps:
    plot_sweeps(table_rows, out / "fig4.png", base)
    lines.append("\n![Fig. 4](fig4.png)")
  lines.append(f"\nRun time: {time.perf_counter() - started:.0f} s on this machine.")
  (out / "README.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


def plot_sweeps(rows, path, base):
  """Fig. 4: ssl-only AUC (grade_high, full labels) against k (k=0: no SE) and against m."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  def auc(modality, name):
    cell = next(r for r in rows if r["modality"] == modality and r["task"] == "grade_high" and r["labels"] == "100%"
                and r["features"] == name)["auc"]
    mean, sd = (float(v) for v in cell.split(" ± "))
    return mean, sd

  def k_name(k):
    return "ssl [" + ("3DSiam" if k == 0 else ("3DSiam+SE" if k == base.k else f"SE k={k}")) + "]"

  def m_name(m):
    return "ssl [" + ("3DSiam+SE" if m == base.m else f"SE m={m}") + "]"

  fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
  for modality in ("sts-mr", "sts-pet"):
    for ax, values, namer, label in ((axes[0], (0,) + SWEEP_K, k_name, "k (clusters; 0 = no SE)"),
                                     (axes[1], SWEEP_M, m_name, "m (SE batch size)")):
      points = [auc(modality, namer(v)) for v in values]
      ax.errorbar(values, [p[0] for p in points], yerr=[p[1] for p in points], marker="o", capsize=3, label=modality)
      ax.set_xlabel(label)
      ax.set_ylabel("AUC, ssl features, grade_high")
  for ax in axes:
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


if __name__ == "__main__":
  main()
