"""The QA report of `radiomics-ssl-inspect`, built in parts from an extracted batch: one table
entry and picture per case, the cohort's feature maps, a summary, and index.html (page.py)."""
import os
import re
from collections import namedtuple

import numpy as np

from radiomics_ssl.config import FEATURE_DIM, ID_COLUMN
from radiomics_ssl.inspect import checks, page, pictures
from radiomics_ssl.tables import is_classical, number, ssl_column, write_csv

Report = namedtuple("Report", "index extracted failed warned")


def inspect_cases(rows, param_file, overrides, out_dir, *, label_column=None, id_column=ID_COLUMN, embedding="pca", jobs=1):
  """Extract every case, then write the pictures, the tables and index.html; -> Report (index.html's path
  and the counts of extracted, failed and warned cases)."""
  from radiomics_ssl.extract.batch import build_case_extractor
  from radiomics_ssl.extract.runner import run_batch

  extractor, ssl = build_case_extractor(param_file, overrides)
  if ssl is None:
    raise ValueError(f"{param_file}: the ssl feature class is not enabled; there is nothing to inspect")
  os.makedirs(os.path.join(out_dir, "cases"), exist_ok=True)
  batch = run_batch(list(enumerate(rows, start=1)), extractor, ssl, jobs=jobs, desc="inspect")
  return write_report(batch.results, rows, batch.encoder, param_file, out_dir, label_column, id_column, embedding)


def write_report(results, rows, encoder, param_file, out_dir, label_column, id_column, embedding):
  """Pictures, tables, features.csv and index.html for `results` (batch.CaseResult per row) -> Report."""
  names = [row.get(id_column) or f"case {index}" for index, row in enumerate(rows, start=1)]
  good = [i for i, result in enumerate(results) if result.error is None and result.rois]
  ssl = ssl_matrix(results, good)
  table, sheet = case_entries(results, rows, names, good, ssl, encoder.contract, out_dir, label_column)
  pictures.contact_sheet(sheet, os.path.join(out_dir, "contact_sheet.png"))
  labels = [rows[i].get(label_column, "") for i in good] if label_column else None
  maps, outliers = feature_maps(results, good, [names[i] for i in good], labels, ssl, out_dir, embedding, label_column)
  write_features(results, os.path.join(out_dir, "features.csv"))
  failed = sum(1 for entry in table if entry["error"])
  warned = sum(1 for entry in table if entry["warnings"])
  summary = summary_lines(len(rows), failed, warned, param_file, encoder, outliers)
  contact = ("contact sheet: the axial mid-slice of every case's box, as the encoder receives it (ROI in red; "
             "(!) marks a warning)", "contact_sheet.png")
  index = page.write_index(out_dir, "radiomics_ssl QA report: what the encoder sees", summary, contact, maps, table,
                           label_column)
  return Report(index, len(rows) - failed, failed, warned)


def ssl_matrix(results, good):
  """The ssl features of the cases `good`, from the image type of each case's first encoded ROI."""
  return np.array([[float(results[i].vector[ssl_column(results[i].rois[0][0], j)]) for j in range(FEATURE_DIM)]
                   for i in good]).reshape(len(good), FEATURE_DIM)


def case_entries(results, rows, names, good, ssl, contract, out_dir, label_column):
  """-> (one table entry per case, with its picture written; the contact sheet's (name, box, warned))."""
  cohort_std = float(np.median(ssl.std(axis=1))) if len(good) else None
  table, sheet = [], []
  for index, (name, row, result) in enumerate(zip(names, rows, results), start=1):
    entry = {"ID": name, "Image": row["Image"], "Mask": row["Mask"], "error": result.error, "warnings": []}
    if label_column:
      entry[label_column] = row.get(label_column, "")
    prepared = result.rois[0][1] if result.error is None and result.rois else None
    if prepared is not None:
      entry["warnings"] = checks.case_warnings(prepared, contract, ssl[good.index(index - 1)], cohort_std)
      entry.update(geometry(result.vector, prepared))
      png = os.path.join("cases", f"{index}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png")
      pictures.save(pictures.case_figure(prepared, contract, f"{name}: what the encoder sees", entry["warnings"]),
                    os.path.join(out_dir, png))
      entry["png"] = png
    table.append(entry)
    sheet.append((name, prepared, bool(entry["warnings"])))
  return table, sheet


def feature_maps(results, good, names, labels, ssl, out_dir, embedding, label_column):
  """The ssl and classical maps and the ssl x classical correlation density -> ([(caption, file)],
  {kind: outlier names})."""
  maps, outliers = [], {}
  if len(good) < 3:
    return maps, outliers
  outliers["ssl"] = pictures.feature_map(ssl, names, labels, os.path.join(out_dir, "ssl_map.png"), "ssl features",
                                         embedding, label_column)
  maps.append(("ssl features, one point per case" + (f", coloured by {label_column}" if label_column else ""),
               "ssl_map.png"))
  trad_columns = [key for key in results[good[0]].vector if is_classical(key)]
  if trad_columns:
    trad = np.array([[number(results[i].vector.get(key)) for key in trad_columns] for i in good])
    outliers["classical"] = pictures.feature_map(trad, names, labels, os.path.join(out_dir, "classical_map.png"),
                                                 "classical features", embedding, label_column)
    pictures.cross_correlation_density(ssl, trad, os.path.join(out_dir, "ssl_x_classical.png"))
    maps += [("classical features, the same map", "classical_map.png"),
             ("correlation of every ssl feature with every classical feature (Fig. 2 style)", "ssl_x_classical.png")]
  return maps, outliers


def summary_lines(n_cases, failed, warned, param_file, encoder, outliers):
  contract = encoder.contract
  return [f"{n_cases} case(s) from {param_file}: {n_cases - failed} extracted, {failed} failed, {warned} with warnings.",
          f"Weights {encoder.weights.name} (sha256 {encoder.weights.sha256[:12]}...), contract: {contract.modality}, "
          f"{contract.box}^3 at {contract.spacing_mm:g} mm, {contract.intensity} window {list(contract.window)}, "
          f"large ROIs {contract.large_roi}, layout {contract.layout}.",
          "Outliers of the maps: " + ("; ".join(f"{kind}: {', '.join(found) or 'none'}" for kind, found in outliers.items())
                                      or "too few cases for maps")]


def geometry(vector, prepared):
  """The table's ROI volume (from pyradiomics' diagnostics), box spacing, window and field of view."""
  spacing = _tuple(vector.get("diagnostics_Image-original_Spacing"))
  voxels = vector.get("diagnostics_Mask-original_VoxelNum")
  volume = float(voxels) * float(np.prod(spacing)) / 1000 if voxels and spacing else None
  return {"ROI volume (ml)": f"{volume:.1f}" if volume is not None else "",
          "box spacing (mm)": f"{prepared.spacing_mm:.3g}",
          "window": f"[{prepared.window[0]:.4g}, {prepared.window[1]:.4g}]",
          "field of view": f"{prepared.field_of_view_mm:.0f} mm ({prepared.fit})"}


def _tuple(text):
  try:
    return tuple(float(v) for v in str(text).strip("()[] ").split(",")) if text else None
  except ValueError:
    return None


def write_features(results, path):
  rows = [result.vector for result in results if result.error is None]
  if rows:
    write_csv(path, rows)
