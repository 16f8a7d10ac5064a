"""`radiomics-ssl-robustness`: how robust is every feature to image perturbation? (Zwanenburg et al. 2019)

  radiomics-ssl-robustness CASES.csv --param PARAMS.yaml --out robustness/ [--perturbations 10] [--jobs 2]

The same batch CSV and parameter file as `pyradiomicsssl`. Each case is perturbed (rotation, noise,
volume adaptation, contour randomisation by default), every enabled feature, classical and ssl,
is extracted from each perturbed case, and each feature gets its ICC(1,1) across cases:
icc.csv, summary.md, icc.png (radiomics_ssl/robustness/study.py). An interrupted run resumes.
Exit codes: 0 every case done; 1 some cases failed (named; the ICC uses the others); 2 bad input.
"""
import sys

import click

from radiomics_ssl.config import DEFAULT_CHAIN, ID_COLUMN, PERTURBATIONS, PerturbationSettings
from radiomics_ssl.extract.options import batch_command, configure_logging

DEFAULTS = PerturbationSettings()


@batch_command("robustness")
@click.option("--perturbations", default=DEFAULTS.count, show_default=True, type=int, help="Perturbations per case.")
@click.option("--chain", default=",".join(DEFAULT_CHAIN), show_default=True,
              help=f"Comma-separated perturbations applied together, from {', '.join(PERTURBATIONS)}.")
@click.option("--rotation", default=DEFAULTS.rotation_deg, show_default=True, type=float, help="Largest rotation, degrees.")
@click.option("--volume-fraction", default=DEFAULTS.volume_fraction, show_default=True, type=float,
              help="Largest volume change, as a fraction of the ROI's volume.")
@click.option("--margin", default=DEFAULTS.margin_mm, show_default=True, type=float,
              help="mm of image kept around the ROI in each perturbed case: at least half the encoder's cube for "
                   "a contract that sees the context (window_region or context 'cube').")
@click.option("--id-column", default=ID_COLUMN, show_default=True, help="Column of CASES_CSV naming the cases.")
@click.option("--jobs", "-j", default=1, show_default=True, type=int, help="Processes for perturbing and extracting.")
def main(cases_csv, param_file, out_dir, settings, perturbations, chain, rotation, volume_fraction, margin, id_column, jobs):
  """Score every feature of CASES_CSV by its ICC(1,1) under image perturbation."""
  configure_logging()
  import radiomics_ssl

  radiomics_ssl.register()
  from radiomics_ssl.cases import CaseError, read_batch_csv
  from radiomics_ssl.extract.cli import SettingsError, parse_overrides
  from radiomics_ssl.robustness.study import run_study

  try:
    perturbation = PerturbationSettings(chain=tuple(chain.split(",")), count=perturbations, rotation_deg=rotation,
                                        volume_fraction=volume_fraction, margin_mm=margin)
    _, summary, failed = run_study(read_batch_csv(cases_csv), param_file, parse_overrides(settings), out_dir,
                                   settings=perturbation, jobs=jobs, id_column=id_column)
  except (CaseError, SettingsError, ValueError, RuntimeError) as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(2)
  for name, error in failed:
    click.echo(f"failed: {name}: {error}", err=True)
  for row in summary:
    click.echo(f"{row['class']:>12}: {row['count_icc_0.90']} of {row['features']} features with ICC >= 0.90, "
               f"median {row['median_icc']:.3f}")
  click.echo(f"Written to {out_dir}: icc.csv, summary.md, summary.csv, icc.png, features.csv")
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  main()
