"""The LIDC benchmark: any list of weights files on the 596 dev nodules, each beside the untrained
encoder of the same contract, on the four imbalanced tasks, grouped by patient
(results/lidc/PREREGISTRATION.md fixes the protocol).

  python benchmarks/lidc.py ../shared/data results/lidc contracts          # part A: untrained candidates
  python benchmarks/lidc.py ../shared/data results/lidc pretrain --contract A1 --candidates B1 B2 --seeds 0
  python benchmarks/lidc.py ../shared/data results/lidc pretrain --contract A1 --candidates B3 B4 --seeds 0   # -3.md, -4.md
  python benchmarks/lidc.py ../shared/data results/lidc pretrain --contract A7 --candidates B5 --seeds 0      # -5.md
  python benchmarks/lidc.py ../shared/data results/lidc robustness --contract A7 --candidates B5 --seeds 0 [--chain volume]
  python benchmarks/lidc.py ../shared/data results/lidc weights NAME=PATH ... [--sets trad,ssl,trad+ssl]
  python benchmarks/lidc.py ../shared/data results/lidc weights NAME=PATH ... --name pca16 --ssl-components 16
  python benchmarks/lidc.py ../shared/data results/lidc report             # tables from what has been run

Cheap to rerun: the classical features are extracted once (features/classical.csv), each encoder's
features once (features/<name>.csv), and each evaluation once (eval/<task>-<stage>/); every command
is logged with its wall time in commands.jsonl (benchmarks/pipeline.py).
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import REPO, Pipeline, study_arguments  # noqa: E402
import lidc_robustness  # noqa: E402
from lidc_results import per_repeat_auc, predictions_kept, read_results, stage_done, views_table  # noqa: E402

from radiomics_ssl.cases import read_batch_csv  # noqa: E402
from radiomics_ssl.datasets import COLUMNS, LIDC_LABELS, write_batch_csv  # noqa: E402

CONTRACTS = {  # part A of the pre-registration: (contract fields, untrained seeds)
  "A0": {"spacing_mm": 2.0, "window": [-200.0, 300.0]},
  "A1": {"spacing_mm": 1.0, "window": [-1000.0, 400.0]},
  "A2": {"spacing_mm": 2.0, "window": [-1000.0, 400.0]},
  "A3": {"spacing_mm": 1.0, "window": [-1000.0, 400.0], "mask_background": True},
  "A4": {"spacing_mm": 0.75, "window": [-1000.0, 400.0]},
  "A5": {"spacing_mm": 1.0, "window": [-1350.0, 150.0]},
  "A6": {"spacing_mm": 1.0, "window": [-1000.0, 400.0], "large_roi": "resize"},
}
VIEW_CONTRACTS = {  # PREREGISTRATION-5.md: A1 in a 32 mm cube of real image with the ROI as a second channel
  "A7": dict(CONTRACTS["A1"], context="cube", roi_channel=True),
  "A8": dict(CONTRACTS["A1"], context="cube", roi_channel=True, pooling="mask"),
}
ALL_CONTRACTS = {**CONTRACTS, **VIEW_CONTRACTS}
SEEDS = (0, 1)
RECIPE = {"batch_size": 16, "lr": 0.02, "iterations": 600, "export": "last"}  # part B, fixed before any result
FINAL = dict(RECIPE, variance_weight=1.0, covariance_weight=0.04)  # B2, the final recipe
PRETRAIN = {"B1": RECIPE, "B2": FINAL,  # PREREGISTRATION-2.md: the paper's modules on the final recipe
            "B2RE": dict(FINAL, balance="re", k=3, q=5), "B2SE": dict(FINAL, balance="se", k=3, q=17, m=16),
            "B3": dict(FINAL, reconstruction_weight=1.0),  # PREREGISTRATION-3.md: a reconstruction target beside B2
            "B4": FINAL,  # PREREGISTRATION-4.md: B2 on the nodules and the sub-volumes below
            "B5": dict(FINAL, augment={"perturbations": list(lidc_robustness.TRAINING_CHAIN), "variants": 8})}  # -5.md
SUBVOLUMES = {"pyradiomics-ct": 150, "openkbp-ptv": 8}  # B4's whole-scan sub-volumes: cohort -> per scan
SUBVOLUME_DRAW = {"--range": (-950, -500), "--size": (4, 20), "--margin": 16, "--spacing": 16, "--seed": 0}  # -4.md
WITH_SUBVOLUMES = ("B4",)
TIE = 0.005  # a candidate within this of a lower-numbered one loses to it
COMBINATION = [  # part C (PREREGISTRATION-2.md): encoder, its plain (stage, set name), its in-fold PCA 16 (stage, set name)
  ("A1 untrained, seed 0", ("pretrain-B2-s0", "untrained-s0"), ("pca16-s01", "A1-s0")),
  ("A1 untrained, seed 1", ("pretrain-B2-s1", "untrained-s1"), ("pca16-s01", "A1-s1")),
  ("B2, seed 0", ("pretrain-B2-s0", "B2-s0"), ("pca16-s01", "B2-A1-s0")),
  ("B2, seed 1", ("pretrain-B2-s1", "B2-s1"), ("pca16-s01", "B2-A1-s1")),
  ("A1 untrained, seed 2", ("pretrain-B2-s2", "untrained-s2"), ("pca16-s2", "A1-s2")),
  ("B2, seed 2", ("pretrain-B2-s2", "B2-s2"), ("pca16-s2", "B2-A1-s2")),
  ("ct-openkbp-siam3d (shipped)", ("shipped", "ct-openkbp-siam3d"), ("pca16-s01", "ct-openkbp-siam3d")),
  ("B3, seed 0", ("pretrain-B3-s0", "B3-s0"), ("pca16-B3-B4-s0", "B3-A1-s0")),  # PREREGISTRATION-3.md
  ("B4, seed 0", ("pretrain-B4-s0", "B4-s0"), ("pca16-B3-B4-s0", "B4-A1-s0")),  # PREREGISTRATION-4.md
]


class Lidc(Pipeline):

  def cases(self):
    return self.cohort_csv("lidc", ["lidc"])

  def params(self, ssl):
    """params/ssl_ct.yaml with only the ssl class (ssl), or for the classical features (not ssl): there the
    ssl class stays, with the cheap shipped `ct-lung-untrained`, so that the extraction runs on the ssl
    road, whose thin-axis guard (`sslThinAxisGuard`) gives the two-slice nodules defined values, as every
    trad row of this study had before the guard became a setting; readers take only the classical columns
    (the evaluator's `--trad`, robustness's classical classes)."""
    path = self.work / ("ssl_ct_ssl_only.yaml" if ssl else "ssl_ct_classical.yaml")
    params = yaml.safe_load(open(REPO / "params" / "ssl_ct.yaml"))
    if ssl:
      params["featureClass"] = {"ssl": None}
    else:
      params["setting"].update(sslWeights="ct-lung-untrained", sslUnitsCheck=False)
    path.write_text(yaml.safe_dump(params))
    return path

  def classical_features(self):
    return self._extracted(self.out / "features" / "classical.csv", self.cases(), self.params(ssl=False))

  def ssl_features(self, name, weights):
    return self._extracted(self.out / "features" / f"{name}.csv", self.cases(), self.params(ssl=True),
                           "--setting", f"sslWeights:{weights}", "--setting", "sslUnitsCheck:false")

  def untrained(self, candidate, seed):
    """The untrained encoder of a part-A contract at `seed` -> weights path."""
    config = self.work / f"contract-{candidate}.yaml"
    config.write_text(yaml.safe_dump({"contract": dict(ALL_CONTRACTS[candidate], modality="CT", box=32)}))
    return self.train(f"{candidate}-untrained-s{seed}", self.cases(), "--method", "random", "--config", config,
                      "--seed", seed, "--cache", self.work / f"cache-{candidate}")

  def pretrained(self, candidate, contract, seed):
    """Part B: `candidate`'s recipe on the dev nodules (labels unused) with a part-A contract -> weights."""
    config = self.work / f"pretrain-{candidate}-{contract}.yaml"
    config.write_text(yaml.safe_dump(dict(PRETRAIN[candidate], contract=dict(ALL_CONTRACTS[contract], modality="CT", box=32))))
    return self.train(f"{candidate}-{contract}-s{seed}", self.training_cases(candidate), "--config", config,
                      "--seed", seed, "--cache", self.work / f"cache-{contract}")

  def training_cases(self, candidate):
    """The dev nodules; for WITH_SUBVOLUMES, with the SUBVOLUMES of whole scans and the labels dropped."""
    if candidate not in WITH_SUBVOLUMES:
      return self.cases()
    rows = read_batch_csv(self.cases())
    draw = [str(v) for option, value in SUBVOLUME_DRAW.items() for v in (option, *np.atleast_1d(value))]
    for cohort, per_scan in SUBVOLUMES.items():
      folder = self.work / ("subvolumes-" + "_".join([cohort, str(per_scan)] + [d[2:] if d.startswith("--") else d for d in draw]))
      if not (folder / "subvolumes.csv").is_file():  # the folder's name holds every parameter of the draw
        self.sh("radiomics-ssl-subvolumes", self.cohort_csv(cohort, [cohort]), "--out", folder, "--per-scan", per_scan, *draw)
      rows += read_batch_csv(folder / "subvolumes.csv")
    return write_batch_csv(self.work / "train-nodules-subvolumes.csv", [{c: row[c] for c in COLUMNS} for row in rows])

  def evaluate_tasks(self, features, stage, sets, ssl_components=None, robust=None):
    """radiomics-ssl-evaluate of {name: features CSV} beside the classical features, per task (with the
    ssl block reduced in-fold to `ssl_components` principal components when given, and both sets
    filtered to ICC(1,1) >= 0.9 by the icc.csv `robust` when given)."""
    trad = self.classical_features()
    for task in LIDC_LABELS:
      folder = self.out / "eval" / f"{task}-{stage}"
      if not (folder / "results.csv").is_file():
        self.sh("radiomics-ssl-evaluate", *features.values(), "--trad", trad, "--names", ",".join(features),
                "--label-column", task, "--id-column", "ID", "--group-column", "Patient", "--positive", "1",
                "--repeats", self.repeats, "--sets", sets, "--out", folder,
                *(["--ssl-components", ssl_components] if ssl_components else []),
                *(["--robust", robust] if robust else []))


def contract_table(out):
  """Part A: ssl AUC per candidate, task and seed, the score, and the rule's winner."""
  lines = ["| contract | " + " | ".join(LIDC_LABELS) + " | score (mean of tasks and seeds) |",
           "|---|" + "---|" * (len(LIDC_LABELS) + 1)]
  scores = {}
  for candidate in CONTRACTS:
    cells, values = [], []
    for task in LIDC_LABELS:
      rows = read_results(out / "eval" / f"{task}-contracts")
      seeds = [float(rows[f"ssl [{candidate}-s{seed}]"]["auc_mean"]) for seed in SEEDS]
      sds = [float(rows[f"ssl [{candidate}-s{seed}]"]["auc_sd"]) for seed in SEEDS]
      values += seeds
      cells.append(" / ".join(f"{v:.3f}" for v in seeds) + f" (sd ≤ {max(sds):.3f})")
    scores[candidate] = float(np.mean(values))
    lines.append(f"| {candidate} {describe(CONTRACTS[candidate])} | " + " | ".join(cells) + f" | {scores[candidate]:.3f} |")
  winner = None
  for candidate in CONTRACTS:  # in order: a later one must beat every earlier one by more than TIE
    if winner is None or scores[candidate] > scores[winner] + TIE:
      winner = candidate
  trad = {task: read_results(out / "eval" / f"{task}-contracts")["trad"] for task in LIDC_LABELS}
  lines.append("| trad (107 classical) | " + " | ".join(f"{float(trad[t]['auc_mean']):.3f} ± {float(trad[t]['auc_sd']):.3f}"
                                                   for t in LIDC_LABELS) + " | |")
  return "\n".join(lines) + f"\n\nCells: seed 0 / seed 1 ssl AUC (10 x 5-fold grouped CV). Winner by the rule: **{winner}**.\n", winner


def pretrain_table(out):
  """Part B over every pretrain stage run: per seed, the untrained twin and each trained candidate (ssl
  AUC per task, four-task means of AUC and minor-class sensitivity, gains over the twin and over B2)."""
  rows = {}  # (seed, encoder) -> {task: (auc, sensitivity)}
  for folder in sorted((out / "eval").glob(f"{LIDC_LABELS[0]}-pretrain-*")):
    stage = folder.name[len(LIDC_LABELS[0]) + 1:]
    if not stage_done(out, stage):
      continue
    for task in LIDC_LABELS:
      for name, row in read_results(out / "eval" / f"{task}-{stage}").items():
        if name.startswith("ssl ["):
          encoder, seed = name[5:-1].rsplit("-s", 1)
          rows.setdefault((int(seed), encoder), {})[task] = (float(row["auc_mean"]), float(row["sensitivity_mean"]))
  mean = {key: float(np.mean([cells[t][0] for t in LIDC_LABELS])) for key, cells in rows.items()}
  order = ["untrained"] + list(PRETRAIN)
  rank = {key: (key[0], key[1].partition(".")[2], order.index(key[1].partition(".")[0])) for key in rows}
  lines = ["| seed | encoder | " + " | ".join(LIDC_LABELS) + " | mean AUC | mean sensitivity | − untrained | − B2 |",
           "|---|---|" + "---|" * (len(LIDC_LABELS) + 4)]
  for seed, encoder in sorted(rows, key=rank.get):
    cells = rows[(seed, encoder)]
    sensitivity = np.mean([cells[t][1] for t in LIDC_LABELS])
    twin = "untrained" + encoder[encoder.find("."):] if "." in encoder else "untrained"  # B5.A7 -> untrained.A7
    versus = [f"{mean[(seed, encoder)] - mean[(seed, e)]:+.3f}" if (seed, e) in mean and encoder not in (e, twin)
              else "" for e in (twin, "B2")]
    lines.append(f"| {seed} | {encoder} | " + " | ".join(f"{cells[t][0]:.3f} ({cells[t][1]:.2f})" for t in LIDC_LABELS)
                 + f" | {mean[(seed, encoder)]:.3f} | {sensitivity:.3f} | " + " | ".join(versus) + " |")
  return "\n".join(lines) + "\n\nCells: ssl AUC, mean of 10 repeats (minor-class sensitivity).\n"


def combination_table(out, pairs):
  """Part C: trad+ssl − trad, paired per repeat, with the plain concatenation and with the in-fold PCA.
  `pairs`: [(encoder, (plain stage, set name), (reduced stage, set name))]."""
  lines = ["| encoder | ssl block | " + " | ".join(LIDC_LABELS) + " | four-task mean |",
           "|---|---|" + "---|" * (len(LIDC_LABELS) + 1)]
  for encoder, *variants in pairs:
    for kind, (stage, name) in zip(("plain (256)", "PCA 16, in-fold"), variants):
      diffs = []
      for task in LIDC_LABELS:
        repeats = per_repeat_auc(out / "eval" / f"{task}-{stage}")
        diffs.append(np.array(repeats[f"trad+ssl [{name}]"]) - np.array(repeats["trad"]))
      mean = np.mean(diffs, axis=0)
      lines.append(f"| {encoder} | {kind} | " + " | ".join(f"{d.mean():+.3f} ± {d.std(ddof=1):.3f}" for d in diffs)
                   + f" | {mean.mean():+.3f} ± {mean.std(ddof=1):.3f} |")
  return "\n".join(lines) + "\n\nCells: trad+ssl − trad AUC, mean ± sd over the 10 repeats (same folds).\n"


def describe(contract):
  extras = [k for k in ("mask_background", "large_roi") if k in contract]
  return (f"({contract['spacing_mm']:g} mm, {contract['window'][0]:g}..{contract['window'][1]:g} HU"
          + "".join(f", {k}={contract[k]}" for k in extras) + ")")


def comparison_table(out, stage, names):
  """Per task: trad, and for each encoder ssl and trad+ssl (AUC, minor-class sensitivity) and the
  paired gain trad+ssl − trad over repeats."""
  lines = ["| task | features | AUC | minor-class sensitivity | trad+ssl − trad (paired, per repeat) |",
           "|---|---|---|---|---|"]
  for task in LIDC_LABELS:
    folder = out / "eval" / f"{task}-{stage}"
    rows, repeats = read_results(folder), per_repeat_auc(folder)
    for name in ["trad"] + [f"{kind} [{n}]" for n in names for kind in ("ssl", "trad+ssl")]:
      if name not in rows:
        continue
      row, gain = rows[name], ""
      if name.startswith("trad+ssl"):
        diff = np.array(repeats[name]) - np.array(repeats["trad"])
        gain = f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}"
      lines.append(f"| {task} | {name} | {float(row['auc_mean']):.3f} ± {float(row['auc_sd']):.3f} | "
                   f"{float(row['sensitivity_mean']):.3f} ± {float(row['sensitivity_sd']):.3f} | {gain} |")
  return "\n".join(lines) + "\n"


def main():
  parser = study_arguments(__doc__)
  parser.add_argument("stage", choices=["contracts", "pretrain", "robustness", "weights", "report"])
  parser.add_argument("weights", nargs="*", help="NAME=PATH (stage weights)")
  parser.add_argument("--name", default="weights", help="stage name of a weights comparison (eval/<task>-<name>)")
  parser.add_argument("--sets", default="trad,ssl,trad+ssl")
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--contract", default="A1", choices=list(ALL_CONTRACTS),
                      help="stages pretrain and robustness: A1 (the part-A winner), or A7/A8 (PREREGISTRATION-5.md)")
  parser.add_argument("--chain", help="stage robustness: a held-out chain run as well as the default one "
                                      f"(the pre-registered one: {lidc_robustness.HELD_OUT})")
  parser.add_argument("--candidates", nargs="+", default=list(PRETRAIN))
  parser.add_argument("--seeds", nargs="+", type=int, default=[0])
  parser.add_argument("--ssl-components", type=int, help="stage weights: the evaluator's in-fold PCA of the ssl block")
  args = parser.parse_args()
  study = Lidc(args.out, args.data_dir, args.repeats)
  out = Path(args.out)
  if args.stage == "contracts":
    features = {f"{c}-s{s}": study.ssl_features(f"{c}-s{s}", study.untrained(c, s)) for c in CONTRACTS for s in SEEDS}
    study.evaluate_tasks(features, "contracts", "trad,ssl")
    text, winner = contract_table(out)
    (out / "contracts.md").write_text(text)
    print(text)
  elif args.stage in ("pretrain", "robustness"):
    tag = "" if args.contract == "A1" else f".{args.contract}"  # names of another contract's rows: B5.A7, untrained.A7
    weights = {}
    for seed in args.seeds:
      weights[f"untrained{tag}-s{seed}"] = (f"{args.contract}-s{seed}", study.untrained(args.contract, seed))
      for candidate in args.candidates:
        weights[f"{candidate}{tag}-s{seed}"] = (f"{candidate}-{args.contract}-s{seed}",
                                               study.pretrained(candidate, args.contract, seed))
    if args.stage == "robustness":
      chains = [lidc_robustness.DEFAULT_CHAIN] + ([args.chain] if args.chain else [])
      text = lidc_robustness.robustness_stage(study, {file: path for file, path in weights.values()}, chains)
      (out / "robustness.md").write_text(text)
      print(text)
      return
    features = {name: study.ssl_features(file, path) for name, (file, path) in weights.items()}
    stage = "pretrain-" + "-".join(args.candidates) + tag.replace(".", "-") + "-s" + "".join(map(str, args.seeds))
    study.evaluate_tasks(features, stage, args.sets)
    text = comparison_table(out, stage, list(features))
    (out / f"{stage}.md").write_text(text)
    print(text)
  elif args.stage == "weights":
    pairs = dict(item.split("=", 1) for item in args.weights)
    features = {name: study.ssl_features(name, path) for name, path in pairs.items()}
    study.evaluate_tasks(features, args.name, args.sets, args.ssl_components)
    text = comparison_table(out, args.name, list(pairs))
    (out / f"{args.name}.md").write_text(text)
    (out / f"{args.name}.json").write_text(json.dumps(pairs, indent=1))
    print(text)
  else:
    print(contract_table(out)[0])
    print(pretrain_table(out))
    print(combination_table(out, [row for row in COMBINATION if all(predictions_kept(out, stage) for stage, _ in row[1:])]))
    text = views_table(out)
    (out / "views.md").write_text(text)
    print(text)


if __name__ == "__main__":
  main()
