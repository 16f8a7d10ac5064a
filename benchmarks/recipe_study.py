"""Issue 13's recipe study: which training recipe gives ssl features worth their columns.

  python benchmarks/recipe_study.py --out results/recipe --stage candidates   # PET and MR, R1-R5, 2 seeds
  python benchmarks/recipe_study.py --out results/recipe --stage ct           # CT: PTV70 only vs + organs
  python benchmarks/recipe_study.py --out results/recipe --stage balance      # the final recipe + RE, + SE
  python benchmarks/recipe_study.py --out results/recipe --stage defaults     # default training, 3 seeds
  python benchmarks/recipe_study.py --out results/recipe --stage report       # tables from what has run

The decisions (contracts, candidates, selection rule, the CT probe task) were written down before
the first run: results/recipe/PREREGISTRATION.md. Everything goes through the public command lines
(`radiomics-ssl-train`, `pyradiomicsssl`, `radiomics-ssl-evaluate`), so every number in the report
has a command; finished steps are reused, so the script can be stopped and started again.
"""
import argparse
import sys

import numpy as np
import yaml

from pipeline import CT_SETS, REPO, Pipeline, cell

PAPER_AUGMENT = {"context": 1.0, "rotation_deg": 20.0, "scale": [0.7, 1.3], "shift": 0.05, "flip": False,
                 "gamma": [0.7, 1.5], "sharpen": [0.0, 1.0], "blur_sigma": [0.0, 1.0], "noise_std": [0.0, 10.0]}
CANDIDATES = {  # name -> TrainConfig fields beyond the defaults (R3 is the defaults)
  "R1-adam-paper": {"optimizer": "adam", "lr": 1e-4, "lr_schedule": "constant", "augment": PAPER_AUGMENT},
  "R2-sgd-paper": {"augment": PAPER_AUGMENT},
  "R3-sgd-crop": {},
  "R4-sgd-rrc": {"augment": {"scale": [0.7, 1.3]}},
  "R5-sgd-crop-int": {"augment": {"gamma": [0.7, 1.5], "intensity_shift": 10.0}},
}
MODALITIES = {  # name -> (contract modality, pretraining cohorts, evaluation cohort)
  "PET": ("PET", ["sts-pet"], "sts-pet"),
  "MR": ("MR", ["sts-mr", "pyradiomics-mr"], "sts-mr"),
}
BALANCED = {"R3-sgd-crop+RE": {"balance": "re", "q": 2}, "R3-sgd-crop+SE": {"balance": "se"}}  # RE: N = 6, as SE's m
CANDIDATES.update(BALANCED)  # the final recipe with the paper's imbalance modules (--stage balance)
SEARCHED = [name for name in CANDIDATES if name not in BALANCED]


class Study(Pipeline):

  def __init__(self, out, data, iterations, repeats, before=None):
    super().__init__(out, data, repeats)
    self.iterations, self.before = iterations, before

  def config_file(self, candidate):
    path = self.out / "configs" / f"{candidate}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(CANDIDATES[candidate], sort_keys=True) if CANDIDATES[candidate] else "{}\n")
    return path

  def train_candidate(self, name, modality, csv_path, candidate, seed, iterations):
    return self.train(f"{name}-{candidate}-s{seed}", csv_path, "--modality", modality, "--config",
                      self.config_file(candidate), "--iterations", iterations, "--seed", seed,
                      "--cache", self.work / f"cache-{name}")

  # -- stages ------------------------------------------------------------------------------
  def candidates(self, seeds):
    for modality, (kind, cohorts, _) in MODALITIES.items():
      self.random_init(modality, kind, self.cohort_csv(f"train-{modality}", cohorts))
    for seed in seeds:
      for modality, (kind, cohorts, _) in MODALITIES.items():
        for candidate in SEARCHED:
          self.train_candidate(modality, kind, self.cohort_csv(f"train-{modality}", cohorts), candidate, seed, self.iterations)

  def balance(self, seeds, modalities=tuple(MODALITIES)):
    """The final recipe (R3, the defaults) with RE and with SE, beside plain 3DSiam."""
    for seed in seeds:
      for modality in modalities:
        kind, cohorts, _ = MODALITIES[modality]
        for candidate in BALANCED:
          self.train_candidate(modality, kind, self.cohort_csv(f"train-{modality}", cohorts), candidate, seed, self.iterations)

  def defaults(self, ct_set, seeds=(0, 1, 2)):
    """Default training (the defaults are R3) on each shared cohort over 3 seeds, for the rank check."""
    paths, _ = self.ct_csvs()
    for seed in seeds:
      self.train_candidate(ct_set, "CT", paths[ct_set], "R3-sgd-crop", seed, self.iterations)
    for modality, (kind, cohorts, _) in MODALITIES.items():
      for seed in seeds:
        self.train_candidate(modality, kind, self.cohort_csv(f"train-{modality}", cohorts), "R3-sgd-crop", seed, self.iterations)

  def derived(self, modality, candidate, seed):
    """R3's encoder extracted as tiles, and its last (not best-rank) encoder, as weights files."""
    from radiomics_ssl import weights as weights_io

    run = self.out / "runs" / f"{modality}-{candidate}-s{seed}"
    source = weights_io.load(str(run / "weights.safetensors"))
    tiles = run / "weights-tiles.safetensors"
    if not tiles.is_file():
      metadata = dict(source.metadata, contract=dict(source.metadata["contract"], layout="tiles"),
                      derived_from=f"{source.sha256}: the same encoder, contract layout 'tiles'")
      weights_io.save(str(tiles), {k: _tensor(v) for k, v in source.tensors.items()}, metadata)
    last = run / "weights-last.safetensors"
    if not last.is_file():
      import torch

      state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
      encoder = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
      metadata = dict(source.metadata, derived_from=f"{source.sha256}: the run's last encoder instead of the best-rank one")
      weights_io.save(str(last), encoder, metadata)
    return {"tiles": tiles, "last": last}

  def evaluate_modality(self, modality, seeds):
    """Every finished run's features on the evaluation cohort, evaluated together."""
    kind, cohorts, _ = MODALITIES[modality]
    files = {"random-init": self.random_init(modality, kind, self.cohort_csv(f"train-{modality}", cohorts))}
    if self.before:
      files["before"] = self.before
    for seed in sorted(set(seeds) | {1, 2}):  # the defaults stage trains seeds 1 and 2 of R3
      for candidate in CANDIDATES:
        weights = self.out / "runs" / f"{modality}-{candidate}-s{seed}" / "weights.safetensors"
        if weights.is_file():
          files[f"{candidate}-s{seed}"] = weights
          if candidate == "R3-sgd-crop":
            files.update({f"{candidate}-{kind}-s{seed}": path for kind, path in self.derived(modality, candidate, seed).items()})
    return self.evaluate_sts(modality, files, self.out / "eval" / modality)

  def ct(self):
    paths, _ = self.ct_csvs()
    self.random_init("CT-all", "CT", paths["CT-all"])
    for name, path in paths.items():
      self.train_candidate(name, "CT", path, "R3-sgd-crop", 0, self.iterations)

  def evaluate_ct(self):
    files = {"random-init": self.out / "runs" / "CT-all-random-init" / "weights.safetensors"}
    for run in sorted((self.out / "runs").glob("CT-*-R3-sgd-crop-s*")):  # every seed of each CT pretraining set
      files[run.name.replace("-R3-sgd-crop", "")] = run / "weights.safetensors"
    return self.evaluate_ct_organs({name: path for name, path in files.items() if path.is_file()},
                                   self.out / "eval" / "CT-organs")


def _tensor(array):
  import torch

  return torch.from_numpy(np.array(array))  # a copy that keeps 0-d tensors 0-d


def report(study, seeds):
  lines = ["# Recipe study (issue 13)\n", "Decisions made before any run: [PREREGISTRATION.md](PREREGISTRATION.md). "
           f"Every run: `--iterations {study.iterations}`; evaluation: STS grade_high, {study.repeats} x stratified "
           "5-fold CV, linear SVM (`radiomics-ssl-evaluate`). Commands and wall times: `commands.jsonl`.\n"]
  summary = {}
  for modality in MODALITIES:
    ranks, results = study.evaluate_modality(modality, seeds)
    reference = ranks["random-init"][1]
    lines += [f"\n## {modality}\n", f"trad AUC {cell(results.get('trad'), 'auc')}; random-init rank {reference:.1f}\n",
              "| encoder | dims varying | effective rank | / random | ssl AUC | ssl sens / spec | trad+ssl AUC |",
              "|---|---|---|---|---|---|---|"]
    for name, (share, rank) in ranks.items():
      ssl, both = results.get(f"ssl [{name}]"), results.get(f"trad+ssl [{name}]")
      lines.append(f"| {name} | {100 * share:.0f}% | {rank:.1f} | {rank / reference:.2f} | {cell(ssl, 'auc')} | "
                   f"{float(ssl['sensitivity_mean']):.2f} / {float(ssl['specificity_mean']):.2f} | {cell(both, 'auc')} |")
      summary.setdefault(name.rsplit("-s", 1)[0], {}).setdefault(modality, []).append(
        (float(ssl["auc_mean"]), float(both["auc_mean"]), rank / reference))
  lines += ["\n## Mean over seeds (the selection rule's quantity: ssl AUC averaged over PET and MR)\n",
            "| encoder | PET ssl AUC | MR ssl AUC | mean ssl AUC | mean trad+ssl AUC | min rank / random |",
            "|---|---|---|---|---|---|"]
  for name, by_modality in summary.items():
    means = {m: np.mean([v[0] for v in values], axis=0) for m, values in by_modality.items()}
    both = np.mean([v[1] for values in by_modality.values() for v in values])
    worst = min(v[2] for values in by_modality.values() for v in values)
    lines.append(f"| {name} | {means.get('PET', np.nan):.3f} | {means.get('MR', np.nan):.3f} | "
                 f"{np.mean(list(means.values())):.3f} | {both:.3f} | {worst:.2f} |")
  lines += default_ranks(study)
  if (study.out / "runs" / "CT-all-R3-sgd-crop-s0" / "weights.safetensors").is_file():
    ranks, results = study.evaluate_ct()
    lines += ["\n## CT: organ identity on held-out OpenKBP test-split patients (grouped by patient)\n",
              "| features | dims varying | effective rank | accuracy | minor-class accuracy |", "|---|---|---|---|---|",
              f"| trad | | | {cell(results.get('trad'), 'accuracy')} | {cell(results.get('trad'), 'minor_class_accuracy')} |"]
    for name, (share, rank) in ranks.items():
      for kind in ("ssl", "trad+ssl"):
        row = results.get(f"{kind} [{name}]")
        lines.append(f"| {kind} [{name}] | {100 * share:.0f}% | {rank:.1f} | {cell(row, 'accuracy')} | "
                     f"{cell(row, 'minor_class_accuracy')} |")
  (study.out / "README.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


def default_ranks(study):
  """Default training, 3 seeds per cohort: the final effective rank against the untrained encoder's
  on the same cases (both measured by the trainer's collapse guard), and the exported iteration."""
  from radiomics_ssl import weights as weights_io

  lines = ["\n## Default training over 3 seeds: effective rank (the trainer's monitor, same cases)\n",
           "| cohort | seed | untrained rank | last rank | last / untrained | exported iteration (rank) |",
           "|---|---|---|---|---|---|"]
  for run in sorted((study.out / "runs").glob("*-R3-sgd-crop-s*")):
    if not (run / "weights.safetensors").is_file() or "+" in run.name:
      continue
    training = weights_io.load(str(run / "weights.safetensors")).metadata["training"]
    cohort, seed = run.name.rsplit("-R3-sgd-crop-s", 1)
    lines.append(f"| {cohort} | {seed} | {training['rank_untrained']:.1f} | {training['rank_last']:.1f} | "
                 f"{training['rank_last'] / training['rank_untrained']:.2f} | {training['exported_iteration']} "
                 f"({training['exported_rank']:.1f}) |")
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default=str(REPO / "results" / "recipe"))
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--stage", choices=["candidates", "ct", "balance", "defaults", "report"], required=True)
  parser.add_argument("--ct-set", choices=list(CT_SETS), default="CT-all", help="--stage defaults: the CT pretraining set")
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
  parser.add_argument("--iterations", type=int, default=400)
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--modalities", nargs="+", choices=list(MODALITIES), default=list(MODALITIES),
                      help="--stage balance: the cohorts to run it on")
  parser.add_argument("--before", help="--stage report: the previous release's weights file, as a 'before' row")
  args = parser.parse_args()
  study = Study(args.out, args.data, args.iterations, args.repeats, args.before)
  if args.stage == "candidates":
    study.candidates(args.seeds)
  elif args.stage == "ct":
    study.ct()
  elif args.stage == "balance":
    study.balance(args.seeds, args.modalities)
  elif args.stage == "defaults":
    study.defaults(args.ct_set)
  else:
    report(study, args.seeds)


if __name__ == "__main__":
  sys.exit(main())
