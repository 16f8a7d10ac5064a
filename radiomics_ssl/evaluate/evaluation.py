"""The paper's evaluation of feature CSVs against labels: what `radiomics-ssl-evaluate` runs.

Feature sets: trad (classical columns of the first CSV, or of `trad_csv`), and for each CSV its
ssl columns and trad+ssl. The cases used are those with feature values in every CSV and a label;
the others are left out and listed in the result's notes.
"""
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from radiomics_ssl.config import EVALUATION_DEFAULTS, Protocol
from radiomics_ssl.evaluate.features import feature_matrix, read_column
from radiomics_ssl.tables import is_classical, is_ssl, load_labels, read_csv, read_iccs

DEFAULT = Protocol()
DEFAULT_SETS = ("trad", "ssl", "trad+ssl")


@dataclass
class Evaluation:
  markdown: str  # the results table
  notes: list  # cases left out, and why
  out_dir: str
  written: list  # file names under out_dir


def evaluate(features, labels_csv, label_column, id_column, *, protocol=DEFAULT, names=None,
             out_dir=EVALUATION_DEFAULTS["out_dir"], positive=EVALUATION_DEFAULTS["positive"], sets=DEFAULT_SETS,
             label_id_column=None, trad_csv=None, group_column=None, robust_csv=None,
             min_icc=EVALUATION_DEFAULTS["min_icc"]):
  """Run the protocol for every feature set; writes tables, predictions and plots -> Evaluation."""
  import numpy as np
  from tqdm import tqdm

  from radiomics_ssl.evaluate.compare import compare, feature_sets
  from radiomics_ssl.evaluate.report import plot_correlation_density, plot_roc, write_predictions, write_tables

  notes = []
  names = names or [Path(f).stem for f in features]
  if len(names) != len(features):
    raise ValueError(f"--names has {len(names)} entries for {len(features)} feature CSVs")
  trad_csv = trad_csv or features[0]
  labels_source = labels_csv or trad_csv
  labels, dropped = load_labels(labels_source, label_id_column or id_column, label_column)
  if dropped:
    _note(notes, f"{len(dropped)} case(s) of {labels_source} without a {label_column} label (empty or N/A) left out", dropped)
  ids, trad, ssl_matrices = aligned_matrices(features, names, trad_csv, labels, id_column, label_column, sets,
                                           robust_filter(robust_csv, min_icc, notes), notes)
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
  title = (f"{label_column}: {len(y)} cases {counts}, {protocol.n_splits}-fold stratified CV x {protocol.repeats} repeats"
           f"{f', grouped by {group_column}' if group_column else ''}, label fraction {protocol.label_fraction:g}, "
           f"class weight {protocol.class_weight or 'none'}"
           + (f", ssl block reduced in each training fold to {protocol.ssl_components} principal components"
              if protocol.ssl_components else ""))
  text = write_tables(results, out_dir, title)
  written = ["results.md", "results.csv", "predictions.csv"]
  write_predictions(records_by_set, ids, out_dir)
  if len(counts) == 2:
    plot_roc(records_by_set, positive, os.path.join(out_dir, "roc.png"),
             f"{label_column}: {len(y)} cases, {protocol.n_splits}-fold CV x {protocol.repeats} repeats")
    written.append("roc.png")
  if ssl_matrices:
    plot_correlation_density(ssl_matrices, os.path.join(out_dir, "ssl_correlation.png"))
    written.append("ssl_correlation.png")
  return Evaluation(text, notes, os.path.abspath(out_dir), written)


def aligned_matrices(features, names, trad_csv, labels, id_column, label_column, sets, robust, notes):
  """-> (ids, trad matrix or None, {name: ssl matrix}) over the labelled cases that have feature values
  in every CSV, rows in one order; the cases left out on either side are added to `notes`."""
  matrices = {}  # feature set -> (ids, X), each over the labelled cases that have values in its CSV
  if any(name.startswith("trad") for name in sets):
    matrices["trad"] = _robust_matrix(trad_csv, id_column, labels, is_classical, robust, "trad", notes)
  for name, path in zip(names, features):
    if path == trad_csv and not any(is_ssl(c) for c in read_csv(path)[0]):
      continue  # the classical-features CSV given as the first FEATURES
    matrices[name] = _robust_matrix(path, id_column, labels, is_ssl, robust, f"ssl [{name}]", notes)
  usable = set.intersection(*(set(ids) for ids, _ in matrices.values()))
  ids = [case for case in next(iter(matrices.values()))[0] if case in usable]
  without_features = sorted(set(labels) - usable)
  if without_features:
    _note(notes, f"{len(without_features)} labelled case(s) without feature values in every features CSV (absent or failed) "
          "left out", without_features)
  unlabelled = sorted({row[id_column] for path in {trad_csv, *features} for row in read_csv(path)[1]
                       if id_column in row} - set(labels))
  if unlabelled:
    _note(notes, f"{len(unlabelled)} case(s) of the features CSVs without a {label_column} label left out", unlabelled)
  trad, ssl_matrices = None, {}
  for name, (set_ids, matrix) in matrices.items():
    order = {case: i for i, case in enumerate(set_ids)}
    matrix = matrix[[order[case] for case in ids]]
    if name == "trad":
      trad = matrix
    else:
      ssl_matrices[name] = matrix
  return ids, trad, ssl_matrices


def robust_filter(robust_csv, min_icc, notes):
  """The features of `robust_csv` (radiomics-ssl-robustness's icc.csv) with ICC(1,1) >= `min_icc`,
  as a column predicate, or None without `robust_csv`. Robustness is measured without labels, so
  this choice leaks nothing into the folds."""
  if not robust_csv:
    return None
  iccs = read_iccs(robust_csv)
  kept = {feature for feature, icc in iccs.items() if icc >= min_icc}
  notes.append(f"robust features (ICC(1,1) >= {min_icc:g} in {robust_csv}): {len(kept)} of {len(iccs)}")
  return kept.__contains__


def _robust_matrix(path, id_column, labels, select, robust, name, notes):
  if robust is None:
    return feature_matrix(path, id_column, labels, select)[:2]
  try:
    ids, matrix, _ = feature_matrix(path, id_column, labels, lambda column: select(column) and robust(column))
  except ValueError as error:
    raise ValueError(f"{error} with ICC(1,1) >= the threshold ({name})") from None
  notes.append(f"{name}: {matrix.shape[1]} robust feature(s) kept")
  return ids, matrix


def _note(notes, message, cases, shown=10):
  listed = ", ".join(cases[:shown]) + (f", ... ({len(cases) - shown} more)" if len(cases) > shown else "")
  notes.append(f"{message}: {listed}")
