"""Reading a `pyradiomicsssl` features CSV into the paper's feature sets (labels: tables.load_labels)."""
import numpy as np

from radiomics_ssl.tables import number, read_csv


def feature_matrix(path, id_column, labels, select):
  """(ids, X, column names) for the rows of `path` that have a label and feature values (a failed
  extraction leaves its row empty), columns chosen by `select`. Rows without a label are left out;
  the caller reports both sides (`coverage`)."""
  columns, rows = read_csv(path)
  if id_column not in columns:
    raise ValueError(f"{path}: id column {id_column!r} not found (columns: {columns[:8]}...)")
  chosen = [c for c in columns if select(c)]
  if not chosen:
    raise ValueError(f"{path}: no feature columns of the requested kind")
  ids = [row[id_column] for row in rows]
  duplicated = sorted({i for i in ids if ids.count(i) > 1})
  if duplicated:
    raise ValueError(f"{path}: duplicated id(s) {duplicated[:10]}")
  keep = [row for row in rows if row[id_column] in labels]
  matrix = np.array([[number(row[c]) for c in chosen] for row in keep], dtype=np.float64).reshape(len(keep), len(chosen))
  extracted = ~np.isnan(matrix).all(axis=1)
  return [row[id_column] for row, ok in zip(keep, extracted) if ok], matrix[extracted], chosen


def coverage(path, id_column, labels, used_ids):
  """-> (labelled ids left out because `path` has no feature values for them, ids of `path` left
  out because they have no label)."""
  _, rows = read_csv(path)
  in_file = {row[id_column] for row in rows}
  used = set(used_ids)
  return sorted(set(labels) - used), sorted(in_file - set(labels))


def read_column(path, column, id_column, ids):
  """The values of `column` for the rows whose `id_column` is in `ids`, in that order."""
  columns, rows = read_csv(path)
  if column not in columns:
    raise ValueError(f"{path}: column {column!r} not found (columns: {columns[:8]}...)")
  by_id = {row[id_column]: row[column] for row in rows}
  return [by_id[case] for case in ids]


