"""Feature tables, below every wing: CSV reading and writing, and the one naming rule for feature
columns (what pyradiomics writes as `<image type>_<class>_<feature>`, the ssl class included).

`extract/` names the ssl columns with `ssl_column`; `evaluate/`, `inspect/` and `robustness/` read
columns back with `is_ssl`, `is_classical` and `feature_class`, robustness's icc.csv with
`read_iccs`, and a labels CSV with `load_labels`, so no wing imports another for a table.
"""
import csv

import numpy as np

SSL_CLASS = "ssl"
# pyradiomics' feature classes (radiomics.getFeatureClasses(), without ssl; tests/test_tables.py checks them)
CLASSICAL_CLASSES = ("firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape", "shape2D")


def ssl_column(image_type, index):
  """The output column of ssl feature `index` for `image_type`, as pyradiomics names it."""
  return f"{image_type}_{SSL_CLASS}_{index}"


def feature_class(column):
  """'original_glcm_Contrast' -> 'glcm'; 'wavelet-LLH_ssl_12' -> 'ssl'; anything else (diagnostics, the
  batch CSV's own columns) -> None."""
  parts = column.split("_")
  if column.startswith("diagnostics_") or len(parts) < 3 or parts[1] not in CLASSICAL_CLASSES + (SSL_CLASS,):
    return None
  return parts[1]


def is_ssl(column):
  return feature_class(column) == SSL_CLASS


def is_classical(column):
  """A classical pyradiomics feature, on any image type (original, wavelet-LLH, log-sigma-..., ...)."""
  return feature_class(column) in CLASSICAL_CLASSES


def number(text):
  """A CSV cell as a float (NaN when empty or not a number)."""
  try:
    return float(text)
  except (TypeError, ValueError):
    return np.nan


def write_csv(path, rows):
  """Rows (dicts) as a CSV with every column any row has, in first-seen order (an empty file without rows)."""
  columns = list(dict.fromkeys(key for row in rows for key in row))
  with open(path, "w", newline="") as stream:
    if columns:
      writer = csv.DictWriter(stream, columns)
      writer.writeheader()
      writer.writerows(rows)


def read_csv(path):
  """(column names, rows as dicts)."""
  with open(path, newline="") as stream:
    reader = csv.DictReader(stream)
    return reader.fieldnames or [], list(reader)


def read_iccs(path):
  """{feature: ICC} from radiomics-ssl-robustness's icc.csv (NaN where undefined)."""
  return {row["feature"]: number(row["icc"]) for row in read_csv(path)[1]}


MISSING_LABELS = ("", "na", "n/a", "nan", "none", "null", "?")  # read as 'no label', case-insensitive


def load_labels(path, id_column, label_column):
  """{case id: label}; rows with a missing label (MISSING_LABELS) are dropped and listed."""
  columns, rows = read_csv(path)
  if id_column not in columns:
    likely = [c for c in columns if "id" in c.lower() or "patient" in c.lower() or "case" in c.lower()]
    hint = f"; if the labels name it otherwise, give --label-id-column (e.g. --label-id-column {likely[0]})" if likely else \
      "; if the labels name it otherwise, give --label-id-column"
    raise ValueError(f"{path}: id column {id_column!r} not found (columns: {columns}){hint}")
  if label_column not in columns:
    raise ValueError(f"{path}: label column {label_column!r} not found (columns: {columns})")
  labels, dropped = {}, []
  for row in rows:
    value = (row[label_column] or "").strip()
    if value.lower() in MISSING_LABELS:
      dropped.append(row[id_column])
    else:
      labels[row[id_column]] = value
  return labels, dropped
