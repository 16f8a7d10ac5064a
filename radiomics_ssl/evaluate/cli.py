"""`radiomics-ssl-evaluate`: do the ssl features help on my cohort? (the paper's protocol)

  radiomics-ssl-evaluate FEATURES.csv [MORE.csv ...] --labels LABELS.csv --label-column COL --id-column ID

Feature sets: trad (classical columns of the first CSV), and for each CSV its ssl columns and
trad+ssl. Several CSVs (one per weights file) are compared in one report.
"""
import functools
import logging
import os
import sys
from pathlib import Path

import click

from radiomics_ssl.config import Protocol

DEFAULT = Protocol()
DEFAULT_SETS = ("trad", "ssl", "trad+ssl")


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
@click.option("--out", "out_dir", default="evaluation", show_default=True, type=click.Path(file_okay=False))
@click.option("--repeats", default=DEFAULT.repeats, show_default=True, type=int, help="Repeats of stratified k-fold CV.")
@click.option("--folds", default=DEFAULT.n_splits, show_default=True, type=int)
@click.option("--seed", default=DEFAULT.seed, show_default=True, type=int)
@click.option("--label-fraction", default=DEFAULT.label_fraction, show_default=True, type=float,
              help="Share of each training fold's labels used.")
@click.option("--class-weight", type=click.Choice(["none", "balanced"]), default="none", show_default=True)
@click.option("--positive", default="1", show_default=True, help="Positive class for sensitivity (binary labels).")
@click.option("--sets", default=",".join(DEFAULT_SETS), show_default=True, help="Feature sets to evaluate.")
def main(features, labels_csv, label_column, id_column, label_id_column, group_column, trad_csv, names, out_dir,
         repeats, folds, seed, label_fraction, class_weight, positive, sets):
  """Evaluate trad, ssl and trad+ssl features of FEATURES with a linear SVM and stratified CV."""
  logging.basicConfig(level=logging.WARNING)
  try:
    protocol = Protocol(n_splits=folds, repeats=repeats, seed=seed, label_fraction=label_fraction,
                        class_weight=None if class_weight == "none" else class_weight)
    text = evaluate(features, labels_csv, label_column, id_column, protocol, names.split(",") if names else None,
                    out_dir, positive, sets.split(","), label_id_column, trad_csv, group_column)
  except ValueError as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(2)
  click.echo(text)


def evaluate(features, labels_csv, label_column, id_column, protocol=DEFAULT, names=None, out_dir="evaluation",
             positive="1", sets=DEFAULT_SETS, label_id_column=None, trad_csv=None, group_column=None):
  """Run the protocol for every feature set; writes tables, predictions and plots; returns the markdown."""
  import numpy as np
  from tqdm import tqdm

  from radiomics_ssl.evaluate.compare import compare, feature_sets
  from radiomics_ssl.evaluate.features import feature_matrix, is_ssl, is_trad, load_labels, read_column, read_csv
  from radiomics_ssl.evaluate.report import plot_correlation_density, plot_roc, write_predictions, write_tables

  names = names or [Path(f).stem for f in features]
  if len(names) != len(features):
    raise ValueError(f"--names has {len(names)} entries for {len(features)} feature CSVs")
  trad_csv = trad_csv or features[0]
  labels_source = labels_csv or trad_csv
  labels, dropped = load_labels(labels_source, label_id_column or id_column, label_column)
  if dropped:
    _note(f"{len(dropped)} case(s) of {labels_source} without a {label_column} label (empty or N/A) left out", dropped)
  matrices = {}  # feature set -> (ids, X), each over the labelled cases that have values in its CSV
  if any(name.startswith("trad") for name in sets):
    matrices["trad"] = feature_matrix(trad_csv, id_column, labels, is_trad)[:2]
  for name, path in zip(names, features):
    if path == trad_csv and not any(is_ssl(c) for c in read_csv(path)[0]):
      continue  # the classical-features CSV given as the first FEATURES
    matrices[name] = feature_matrix(path, id_column, labels, is_ssl)[:2]
  usable = set.intersection(*(set(ids) for ids, _ in matrices.values()))
  ids = [case for case in next(iter(matrices.values()))[0] if case in usable]
  without_features = sorted(set(labels) - usable)
  if without_features:
    _note(f"{len(without_features)} labelled case(s) without feature values in every features CSV (absent or failed) "
          "left out", without_features)
  unlabelled = sorted({row[id_column] for path in {trad_csv, *features} for row in read_csv(path)[1]
                       if id_column in row} - set(labels))
  if unlabelled:
    _note(f"{len(unlabelled)} case(s) of the features CSVs without a {label_column} label left out", unlabelled)
  trad, ssl_matrices = None, {}
  for name, (set_ids, matrix) in matrices.items():
    order = {case: i for i, case in enumerate(set_ids)}
    matrix = matrix[[order[case] for case in ids]]
    if name == "trad":
      trad = matrix
    else:
      ssl_matrices[name] = matrix
  y = np.array([labels[case] for case in ids])
  groups = None if group_column is None else np.array(read_column(trad_csv, group_column, id_column, ids))
  if len(set(y)) == 2 and positive not in set(y):
    raise ValueError(f"--positive {positive!r} is not one of the {label_column} labels "
                     f"{sorted(str(label) for label in set(y))}")
  counts = {str(label): int(np.sum(y == label)) for label in sorted(set(y))}  # str: no np.str_ repr in the title
  if min(counts.values()) < protocol.n_splits:
    raise ValueError(f"class counts {counts}: every class needs at least {protocol.n_splits} cases for "
                     f"{protocol.n_splits}-fold CV")
  os.makedirs(out_dir, exist_ok=True)
  results, records_by_set = compare(feature_sets(trad, ssl_matrices, sets), y, protocol, groups, positive,
                                    functools.partial(tqdm, disable=None))
  title = (f"{label_column}: n={len(y)} {counts}, {protocol.n_splits}-fold stratified CV x {protocol.repeats} repeats"
           f"{f', grouped by {group_column}' if group_column else ''}, label fraction {protocol.label_fraction:g}, "
           f"class weight {protocol.class_weight or 'none'}")
  text = write_tables(results, out_dir, title)
  written = ["results.md", "results.csv", "predictions.csv"]
  write_predictions(records_by_set, ids, out_dir)
  if len(counts) == 2:
    plot_roc(records_by_set, positive, os.path.join(out_dir, "roc.png"),
             f"{label_column}: n={len(y)}, {protocol.n_splits}-fold CV x {protocol.repeats} repeats")
    written.append("roc.png")
  if ssl_matrices:
    plot_correlation_density(ssl_matrices, os.path.join(out_dir, "ssl_correlation.png"))
    written.append("ssl_correlation.png")
  return text + f"\nWritten to {os.path.abspath(out_dir)}: {', '.join(written)}\n"


def _note(message, cases, shown=10):
  listed = ", ".join(cases[:shown]) + (f", ... ({len(cases) - shown} more)" if len(cases) > shown else "")
  click.echo(f"Note: {message}: {listed}", err=True)


if __name__ == "__main__":
  main()
