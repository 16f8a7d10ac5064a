"""Feature robustness under image perturbation, per cohort: classical features by class, ssl with the
shipped weights of the cohort's modality, and ssl with the untrained encoder of the same contract.

  python benchmarks/robustness.py ../shared/data results/robustness --cohorts lidc sts-pet sts-mr openkbp-ptv
  python benchmarks/robustness.py ../shared/data results/robustness --report
  python benchmarks/robustness.py ../shared/data results/robustness --mr-windows   # PREREGISTRATION-5.md's MR window
  python benchmarks/robustness.py ../shared/data results/robustness --mr-file      # and its retrained MR file
  python benchmarks/robustness.py ../shared/data results/robustness --mr-file --seeds 0 1 2   # its seed spread

Per cohort: `radiomics-ssl-robustness` with the modality's parameter file (classical + shipped ssl),
then again with only the ssl class and the untrained twin, on the same perturbed cases (the first
run's perturbed/ folder is reused). Every command is logged with its wall time (commands.jsonl).
"""
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import REPO, Pipeline, study_arguments  # noqa: E402

COHORTS = {  # cohort -> (parameter file, shipped weights, modality, cases kept), in the order they run
  "lidc": ("ssl_ct.yaml", "ct-openkbp-siam3d", "CT", 200),  # the first 200 nodules (of 596): cost
  "sts-pet": ("ssl_pet.yaml", "pet-sts-siam3d", "PET", None),
  "sts-mr": ("ssl_mr.yaml", "mr-sts-cube-siam3d", "MR", None),  # results/robustness/sts-mr/shipped: mr-sts-siam3d
  "openkbp-ptv": ("ssl_ct.yaml", "ct-openkbp-siam3d", "CT", 20),  # the first 20 patients: a 600 cc PTV at 1 mm
  # takes 20-40 s per extraction, 6 per case
}


class Robustness(Pipeline):

  def twin(self, modality, cases_csv):
    """The untrained encoder with the shipped weights' contract of `modality` (seed 0)."""
    return self.train(f"untrained-{modality}", cases_csv, "--method", "random", "--modality", modality, "--seed", 0,
                      "--cache", self.work / f"cache-{modality}")

  def ssl_only(self, params, weights, stem):
    """params/<params> with only the ssl class and `weights` -> work/<stem>.yaml."""
    only = yaml.safe_load(open(REPO / "params" / params))
    only["featureClass"] = {"ssl": None}
    only["setting"]["sslWeights"] = str(weights)
    path = self.work / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(only))
    return path

  def run(self, cohort, perturbations, jobs):
    params, weights, modality, keep = COHORTS[cohort]
    from radiomics_ssl.datasets import cohort_rows, write_batch_csv

    cases = self.work / f"{cohort}.csv"
    if not cases.is_file():
      write_batch_csv(cases, cohort_rows(self.data, cohort)[:keep])
    shipped = self.out / cohort / "shipped"
    if not (shipped / "icc.csv").is_file():
      self.sh("radiomics-ssl-robustness", cases, "--param", REPO / "params" / params, "--out", shipped,
              "--perturbations", perturbations, "--jobs", jobs)
    untrained = self.out / cohort / "untrained"
    if not (untrained / "icc.csv").is_file():
      if not (untrained / "perturbed").is_dir():
        shutil.copytree(shipped / "perturbed", untrained / "perturbed")
      param_file = self.ssl_only(params, self.twin(modality, cases), f"{cohort}-untrained")
      self.sh("radiomics-ssl-robustness", cases, "--param", param_file, "--out", untrained,
              "--perturbations", perturbations, "--jobs", jobs)


  def mr_windows(self, perturbations, jobs, margin_mm=50.0):
    """PREREGISTRATION-5.md's MR window, on its untrained twins: STS MR under the default chain, the
    shipped MR contract's window over the ROI against the same contract with `window_region: cube`,
    both untrained (seed 0), on the same perturbations, with `margin_mm` of image kept around each
    perturbed ROI (the cube is 96 mm: 32 voxels at 3 mm)."""
    cases = self.cohort_csv("sts-mr", ["sts-mr"])
    for window in ("roi", "cube"):
      folder = self.out / "sts-mr-window" / window
      if (folder / "icc.csv").is_file():
        continue
      config = self.work / f"mr-window-{window}.yaml"
      config.write_text(yaml.safe_dump({"contract": {"window_region": window}}))
      weights = self.train(f"untrained-MR-window-{window}", cases, "--method", "random", "--modality", "MR", "--seed", 0,
                           "--config", config, "--cache", self.work / f"cache-MR-window-{window}")
      param_file = self.ssl_only("ssl_mr.yaml", weights, f"sts-mr-window-{window}")
      self.sh("radiomics-ssl-robustness", cases, "--param", param_file, "--out", folder, "--perturbations", perturbations,
              "--jobs", jobs, "--margin", margin_mm)


  def mr_file(self, perturbations, jobs, margin_mm=50.0, seeds=(1,)):
    """PREREGISTRATION-5.md's MR file: `mr-sts-siam3d`'s recipe (the defaults, 400 iterations, seed 1,
    the STS MR tumours and the pyradiomics MR cases) with only `window_region: cube` changed, beside
    its untrained twin (same contract, same seed) and the superseded file; other `seeds` give the spread
    over training seeds (the file ships seed 1, as its predecessor). STS MR robustness under the
    default chain with `margin_mm` of image (the perturbed cases of the first run, reused), and
    STS grade_high, the shipped file's validation protocol. -> {name: weights}"""
    cases = self.cohort_csv("sts-mr", ["sts-mr"])
    training = self.cohort_csv("train-MR", ["sts-mr", "pyradiomics-mr"])
    config = self.work / "mr-window-cube.yaml"
    config.write_text(yaml.safe_dump({"contract": {"window_region": "cube"}}))
    files = {"shipped": "mr-sts-siam3d"}  # the folder names of the first runs: the file superseded by seed 1's
    for seed in seeds:
      common = ("--modality", "MR", "--seed", seed, "--config", config, "--cache", self.work / "cache-MR-file")
      files[f"untrained-cube-s{seed}"] = self.train(f"untrained-MR-cube-s{seed}", training, "--method", "random", *common)
      files[f"retrained-cube-s{seed}"] = self.train(f"MR-cube-s{seed}", training, "--iterations", 400, *common)
    first = None
    for name, weights in files.items():
      folder = self.out / "sts-mr-file" / name
      if not (folder / "icc.csv").is_file():
        if first is not None and not (folder / "perturbed").is_dir():
          shutil.copytree(first / "perturbed", folder / "perturbed")
        param_file = self.ssl_only("ssl_mr.yaml", weights, f"sts-mr-file-{name}")
        self.sh("radiomics-ssl-robustness", cases, "--param", param_file, "--out", folder,
                "--perturbations", perturbations, "--jobs", jobs, "--margin", margin_mm)
      first = first or folder
    self.evaluate_sts("MR", files, self.out / "sts-mr-file" / "grade")
    return files


def report(out):
  """One table: cohort x feature set, how many features have ICC >= 0.90 (counted in icc.csv), and the median ICC."""
  from radiomics_ssl.tables import number, read_csv

  lines = ["| cohort | features | ICC >= 0.90 | median ICC |", "|---|---|---|---|"]
  for cohort in COHORTS:
    for kind in ("shipped", "untrained"):
      path = Path(out) / cohort / kind / "summary.csv"
      if not path.is_file():
        continue
      iccs = read_csv(path.with_name("icc.csv"))[1]
      for row in read_csv(path)[1]:
        if kind == "untrained" and row["class"] != "ssl":
          continue
        robust = sum(number(icc["icc"]) >= 0.9 for icc in iccs if icc["class"] == row["class"])
        name = f"ssl, {'shipped' if kind == 'shipped' else 'untrained twin'}" if row["class"] == "ssl" else row["class"]
        lines.append(f"| {cohort} | {name} | {robust} of {row['features']} | {float(row['median_icc']):.3f} |")
  return "\n".join(lines) + "\n"


def main():
  parser = study_arguments(__doc__)
  parser.add_argument("--cohorts", nargs="+", default=list(COHORTS), choices=list(COHORTS))
  parser.add_argument("--perturbations", type=int, default=5)
  parser.add_argument("--jobs", type=int, default=2)
  parser.add_argument("--report", action="store_true", help="only print the table of what has been run")
  parser.add_argument("--mr-windows", action="store_true",
                      help="only the MR window of PREREGISTRATION-5.md: its untrained twins, window over the ROI or the cube")
  parser.add_argument("--mr-file", action="store_true",
                      help="only the MR file of PREREGISTRATION-5.md: retrained with the cube window, beside its twin and the shipped file")
  parser.add_argument("--seeds", nargs="+", type=int, default=[1], help="--mr-file: training seeds (1 ships)")
  args = parser.parse_args()
  study = Robustness(args.out, args.data_dir)
  if args.mr_windows:
    return study.mr_windows(args.perturbations, args.jobs)
  if args.mr_file:
    return study.mr_file(args.perturbations, args.jobs, seeds=args.seeds)
  if not args.report:
    for cohort in args.cohorts:
      study.run(cohort, args.perturbations, args.jobs)
  text = report(args.out)
  (Path(args.out) / "README.md").write_text("# Robustness under perturbation\n\n" + text)
  print(text)


if __name__ == "__main__":
  main()
