"""Reading a `pyradiomicsssl` features CSV and a labels CSV into the paper's feature sets."""
import csv

import numpy as np


def read_csv(path):
  with open(path, newline="") as stream:
    reader = csv.DictReader(stream)
    return reader.fieldnames or [], list(reader)


def is_ssl(column):
  return "_ssl_" in column and not column.startswith("diagnostics_")


def is_trad(column):
  """Classical features: every non-diagnostic pyradiomics feature column that is not ssl."""
  prefixes = ("original_", "wavelet", "log-", "square", "squareroot_", "logarithm_", "exponential_", "gradient_",
              "lbp-")
  return column.startswith(prefixes) and not is_ssl(column)


def load_labels(path, id_column, label_column):
  """{case id: label}; rows with an empty label are dropped and counted."""
  columns, rows = read_csv(path)
  for column in (id_column, label_column):
    if column not in columns:
      raise ValueError(f"{path}: column {column!r} not found (columns: {columns})")
  labels, dropped = {}, []
  for row in rows:
    value = (row[label_column] or "").strip()
    if value == "":
      dropped.append(row[id_column])
    else:
      labels[row[id_column]] = value
  return labels, dropped


def feature_matrix(path, id_column, labels, select):
  """(ids, X, column names) for the rows of `path` with a label, columns chosen by `select`."""
  columns, rows = read_csv(path)
  if id_column not in columns:
    raise ValueError(f"{path}: id column {id_column!r} not found (columns: {columns[:8]}...)")
  chosen = [c for c in columns if select(c)]
  if not chosen:
    raise ValueError(f"{path}: no feature columns of the requested kind")
  ids = [row[id_column] for row in rows]
  unmatched = sorted(set(labels) - set(ids))
  if unmatched:
    raise ValueError(f"{path}: {len(unmatched)} labelled id(s) have no feature row: {unmatched[:10]}")
  duplicated = sorted({i for i in ids if ids.count(i) > 1})
  if duplicated:
    raise ValueError(f"{path}: duplicated id(s) {duplicated[:10]}")
  keep = [row for row in rows if row[id_column] in labels]
  matrix = np.array([[_number(row[c]) for c in chosen] for row in keep], dtype=np.float64)
  empty = [row[id_column] for row in keep if np.isnan(matrix[keep.index(row)]).all()]
  if empty:
    raise ValueError(f"{path}: no feature values for id(s) {empty[:10]} (did their extraction fail?)")
  return [row[id_column] for row in keep], matrix, chosen


def read_column(path, column, id_column, ids):
  """The values of `column` for the rows whose `id_column` is in `ids`, in that order."""
  columns, rows = read_csv(path)
  if column not in columns:
    raise ValueError(f"{path}: column {column!r} not found (columns: {columns[:8]}...)")
  by_id = {row[id_column]: row[column] for row in rows}
  return [by_id[case] for case in ids]


def _number(text):
  try:
    return float(text)
  except (TypeError, ValueError):
    return np.nan
