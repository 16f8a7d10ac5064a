"""`radiomics-ssl-train`: 3DSiam pretraining (with RE or SE) on a pyradiomics batch CSV.

The effective configuration is defaults <- `--config` YAML <- command-line options, frozen in
one `TrainConfig`, and saved as `<out>/config.yaml`. The weights land at
`<out>/weights.safetensors`, usable as `sslWeights` as they are.
"""
import logging
import os
import shlex
import sys

import click

from radiomics_ssl import config as defaults

CONTRACT_OPTIONS = {"box": "box", "spacing": "spacing_mm", "large_roi": "large_roi", "intensity": "intensity",
                    "window": "window", "modality": "modality"}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("cases_csv", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder (weights, checkpoint, metrics, plots).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML with TrainConfig fields (params/train/paper.yaml holds the paper's settings).")
@click.option("--method", type=click.Choice(defaults.METHODS),
              help="siam3d (default); rubik: the Rubik's cube pretext [25]; random: export the untrained encoder (baselines).")
@click.option("--balance", type=click.Choice(defaults.BALANCES), help="Imbalance module (default none).")
@click.option("--iterations", type=int, help="Total iterations, warm-up included.")
@click.option("--seed", type=int, help="Seed of every random choice.")
@click.option("--device", help="auto, cpu, cuda or cuda:N.")
@click.option("--k", type=int, help="k-means clusters (RE/SE).")
@click.option("--q", type=int, help="Candidates per cluster: N = k*q.")
@click.option("--m", "--se-batch", "m", type=int, help="SE batch size (--se-batch under torchrun, whose parser takes --m).")
@click.option("--balance-features", type=click.Choice(["bank", "fresh"]),
              help="RE/SE features: bank (default; refreshed round-robin) or fresh (the paper's per-iteration pass).")
@click.option("--batch-size", type=int, help="Batch size of warm-up and plain 3DSiam.")
@click.option("--optimizer", type=click.Choice(defaults.OPTIMIZERS), help="sgd (default, SimSiam's) or adam (the paper's).")
@click.option("--lr", type=float, help="Base learning rate (default 0.05 x 6 / 256, SimSiam's rule at batch 6).")
@click.option("--checkpoint-every", type=int, help="Iterations between checkpoints.")
@click.option("--box", type=int, help="Contract: box side in voxels.")
@click.option("--spacing", type=float, help="Contract: isotropic spacing in mm.")
@click.option("--large-roi", type=click.Choice(defaults.LARGE_ROI_RULES), help="Contract: rule for ROIs larger than the box.")
@click.option("--intensity", type=click.Choice(defaults.INTENSITY_RULES), help="Contract: intensity mapping.")
@click.option("--window", type=float, nargs=2, default=None, metavar="LOW HIGH",
              help="Contract: intensity window (percentiles, or image units such as HU or SUV with --intensity fixed).")
@click.option("--modality", type=click.Choice(defaults.MODALITIES), help="Contract: the images' modality.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), help="Box cache folder (default <out>/cache).")
@click.option("--resume", is_flag=True, help="Continue from <out>/checkpoint.pt with the same settings.")
@click.option("--force", is_flag=True, help="Start afresh in an --out folder that already holds a run (its files are replaced).")
@click.option("--strict", is_flag=True, help="Refuse, instead of warning, when the cases do not look like --modality's units.")
@click.option("--no-units-check", is_flag=True, help="Skip the check that the cases look like --modality's units.")
@click.option("--skip-bad", is_flag=True, help="Skip unusable rows (listed in the data summary) instead of failing.")
@click.option("-v", "--verbose", count=True, help="More logging.")
def main(cases_csv, out_dir, config_file, cache_dir, resume, force, strict, no_units_check, skip_bad, verbose, **options):
  """Pretrain the 3DSiam encoder on the cases of CASES_CSV (pyradiomics batch format; labels unused)."""
  logging.basicConfig(level=logging.WARNING - 10 * verbose, format="%(levelname)s %(name)s: %(message)s")
  try:
    config = build_config(config_file, options)
  except ValueError as error:
    raise click.BadParameter(str(error)) from None
  from radiomics_ssl.cases import CaseError
  from radiomics_ssl.train.runfiles import existing_run

  found = existing_run(out_dir) if os.path.isdir(out_dir) else []
  if found and not (resume or force):
    click.echo(f"Error: {out_dir} already holds a run ({', '.join(found)}); use --resume to continue it, "
               "--force to replace it, or another --out", err=True)
    sys.exit(2)
  try:
    if not no_units_check:
      check_units(cases_csv, config.contract.modality, strict)
    weights_path = run(config, cases_csv, out_dir, cache_dir, resume, skip_bad, command=_command_line())
  except (CaseError, FileNotFoundError, RuntimeError, ValueError) as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(1)
  if os.environ.get("RANK", "0") == "0":
    click.echo(weights_path)


UNITS_SAMPLE = 8  # cases read to check the modality's units


def check_units(cases_csv, modality, strict=False):
  """Warn (or, `strict`, refuse) when most of the first UNITS_SAMPLE readable cases do not look like
  `modality`'s units (radiomics_ssl.units, the rule extraction applies)."""
  from radiomics_ssl.cases import CaseError, case_label, load_case, read_batch_csv
  from radiomics_ssl.units import image_roi_percentiles, modality_mismatch

  if modality == "any":
    return
  mismatches, checked = [], 0
  for row in read_batch_csv(cases_csv):
    if checked == UNITS_SAMPLE:
      break
    try:
      label = case_label(row)
      image, mask = load_case(row["Image"], row["Mask"], label)
    except CaseError:
      continue  # the data loader reports unusable rows
    checked += 1
    warning = modality_mismatch(modality, image_roi_percentiles(image, mask, label))
    if warning:
      mismatches.append(f"{row['Image']}: {warning}")
  if mismatches and len(mismatches) * 2 > checked:
    message = (f"--modality {modality}, but {len(mismatches)} of the first {checked} cases do not look like it:\n  "
               + "\n  ".join(mismatches) + "\n(use --no-units-check if the images are right)")
    if strict:
      raise ValueError(message)
    logging.getLogger("radiomics_ssl.train").warning("%s", message)


def build_config(config_file, options):
  """defaults <- YAML <- options (None means 'not given')."""
  import yaml

  from radiomics_ssl.config import TrainConfig

  values = {}
  if config_file:
    with open(config_file) as stream:
      values = yaml.safe_load(stream) or {}
    if not isinstance(values, dict):
      raise ValueError(f"{config_file}: expected a mapping of TrainConfig fields")
  contract = dict(values.get("contract") or {})
  for option, field in CONTRACT_OPTIONS.items():
    if options.get(option) is not None:
      contract[field] = options.pop(option)
    options.pop(option, None)
  if contract:
    values["contract"] = contract
  values.update({key: value for key, value in options.items() if value is not None})
  from radiomics_ssl.train import methods

  config = TrainConfig.from_dict(values, source=config_file or "options")
  methods.check(config)
  return config


def run(config, cases_csv, out_dir, cache_dir=None, resume=False, skip_bad=False, command=""):
  """Preprocess (cached), train, export; returns the weights path. Under `torchrun` the main
  process fills the box cache first and the others then read it."""
  from tqdm import tqdm

  from radiomics_ssl.cases import CaseError
  from radiomics_ssl.train import distributed
  from radiomics_ssl.train.augment import region_size
  from radiomics_ssl.train.data import load_training_regions
  from radiomics_ssl.train.loop import Trainer

  device = distributed.init_from_env(config.device)
  main_process = distributed.rank() == 0
  progress = tqdm if main_process else None
  try:
    for turn in (True, False):
      error = None
      if main_process == turn:
        try:
          boxes, summary = load_training_regions(cases_csv, config, cache_dir or os.path.join(out_dir, "cache"),
                                                 skip_bad=skip_bad, progress=progress,
                                                 size=region_size(config.contract.box, config.augment.context))
        except (CaseError, OSError, ValueError) as failure:
          error = failure
      if not distributed.agree(error is None):
        raise error or RuntimeError("another process could not load the cases (see its message)")
    return Trainer(config, boxes, out_dir, summary, command=command, device=device).run(resume=resume, progress=progress)
  finally:
    distributed.finish()


def _command_line():
  return " ".join(["radiomics-ssl-train"] + [shlex.quote(arg) for arg in sys.argv[1:]])


if __name__ == "__main__":
  main()
