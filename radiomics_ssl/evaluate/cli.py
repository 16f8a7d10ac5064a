"""`radiomics-ssl-evaluate`: do the ssl features help on my cohort? (the paper's protocol)

  radiomics-ssl-evaluate FEATURES.csv [MORE.csv ...] --labels LABELS.csv --label-column COL --id-column ID

Feature sets: trad (classical columns of the first CSV), and for each CSV its ssl columns and
trad+ssl. Several CSVs (one per weights file) are compared in one report.
"""
import logging
import sys

import click

from radiomics_ssl.config import EVALUATION_DEFAULTS, Protocol
from radiomics_ssl.evaluate.evaluation import DEFAULT, DEFAULT_SETS, evaluate


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("features", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False),
              help="CSV with the labels (default: the label column of the first features CSV).")
@click.option("--label-column", required=True)
@click.option("--id-column", required=True, help="Case id column of the features CSVs.")
@click.option("--label-id-column", help="Case id column of the labels CSV (default: --id-column).")
@click.option("--group-column", help="Column of the features CSV grouping cases (e.g. the patient of several ROIs): "
                                     "no group is in both the training and the test side of a split.")
@click.option("--trad", "trad_csv", type=click.Path(exists=True, dir_okay=False),
              help="CSV with the classical features (default: the first features CSV).")
@click.option("--names", help="Comma-separated names of the feature CSVs (default: file stems).")
@click.option("--out", "out_dir", default=EVALUATION_DEFAULTS["out_dir"], show_default=True, type=click.Path(file_okay=False))
@click.option("--repeats", default=DEFAULT.repeats, show_default=True, type=int, help="Repeats of stratified k-fold CV.")
@click.option("--folds", default=DEFAULT.n_splits, show_default=True, type=int)
@click.option("--seed", default=DEFAULT.seed, show_default=True, type=int)
@click.option("--label-fraction", default=DEFAULT.label_fraction, show_default=True, type=float,
              help="Share of each training fold's labels used.")
@click.option("--class-weight", type=click.Choice(["none", "balanced"]), default="none", show_default=True)
@click.option("--positive", default=EVALUATION_DEFAULTS["positive"], show_default=True, help="Positive class for sensitivity (binary labels).")
@click.option("--sets", default=",".join(DEFAULT_SETS), show_default=True, help="Feature sets to evaluate.")
@click.option("--robust", "robust_csv", type=click.Path(exists=True, dir_okay=False),
              help="icc.csv of radiomics-ssl-robustness: keep only features with ICC(1,1) >= --min-icc, in every set "
                   "(measured without labels: nothing leaks into the folds).")
@click.option("--min-icc", default=EVALUATION_DEFAULTS["min_icc"], show_default=True, type=float, help="ICC(1,1) threshold of --robust.")
@click.option("--ssl-components", type=click.IntRange(min=1),
              help="Replace the ssl block (in ssl and trad+ssl) by its first K principal components, whitened, fitted "
                   "on each training fold only; the classical columns are kept. Default: no reduction (the paper's).")
def main(features, labels_csv, label_column, id_column, label_id_column, group_column, trad_csv, names, out_dir,
         repeats, folds, seed, label_fraction, class_weight, positive, sets, robust_csv, min_icc, ssl_components):
  """Evaluate trad, ssl and trad+ssl features of FEATURES with a linear SVM and stratified CV."""
  logging.basicConfig(level=logging.WARNING)
  try:
    protocol = Protocol(n_splits=folds, repeats=repeats, seed=seed, label_fraction=label_fraction,
                        class_weight=None if class_weight == "none" else class_weight, ssl_components=ssl_components)
    result = evaluate(features, labels_csv, label_column, id_column, protocol=protocol,
                      names=names.split(",") if names else None, out_dir=out_dir, positive=positive, sets=sets.split(","),
                      label_id_column=label_id_column, trad_csv=trad_csv, group_column=group_column,
                      robust_csv=robust_csv, min_icc=min_icc)
  except ValueError as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(2)
  for note in result.notes:
    click.echo(f"Note: {note}", err=True)
  click.echo(result.markdown)
  click.echo(f"Written to {result.out_dir}: {', '.join(result.written)}")


if __name__ == "__main__":
  main()
