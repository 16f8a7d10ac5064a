"""`radiomics-ssl-inspect`: a visual QA report of what the encoder sees, per case and per cohort.

  radiomics-ssl-inspect CASES.csv --param PARAMS.yaml --out report/ [--label-column grade_high]

It runs the extraction itself (the same two stages as `pyradiomicsssl`, extract/batch.py), so
every picture shows the very box the encoder received. It writes:
- cases/<n>_<ID>.png: three orthogonal mid-slices of the input box, the ROI outline, the window
  in physical units, the field of view, and whether the ROI was cropped, resized or tiled;
- contact_sheet.png: every case on one page, so an outlier stands out;
- ssl_map.png (and classical_map.png with classical features): one point per case, PCA (or UMAP,
  `--embedding umap`, with umap-learn installed), coloured by `--label-column`, outliers named;
  ssl_x_classical.png: the Fig. 2-style density of correlations between ssl and classical features;
- features.csv: the extracted rows; index.html: all of it, with a table per case and its warnings
  (radiomics_ssl.inspect.checks). Failed cases are listed with their error; the rest is reported.
"""
import collections
import logging
import multiprocessing
import os
import re
import sys

import click

Report = collections.namedtuple("Report", "index extracted failed warned")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("cases_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--param", "param_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="pyradiomics parameter file with the ssl class (as for pyradiomicsssl).")
@click.option("--out", "out_dir", default="report", show_default=True, type=click.Path(file_okay=False))
@click.option("--setting", "settings", multiple=True, help="KEY:VALUE override, as pyradiomicsssl's --setting.")
@click.option("--label-column", help="Column of CASES_CSV (or of --labels) that colours the feature maps.")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False),
              help="A labels CSV holding --label-column, joined to CASES_CSV on the case id (as radiomics-ssl-evaluate).")
@click.option("--label-id-column", help="Case id column of --labels (default: --id-column).")
@click.option("--id-column", default="ID", show_default=True, help="Column of CASES_CSV naming the cases.")
@click.option("--embedding", type=click.Choice(["pca", "umap"]), default="pca", show_default=True)
@click.option("--jobs", "-j", default=1, show_default=True, type=int, help="Processes for the per-case step.")
def main(cases_csv, param_file, out_dir, settings, label_column, labels_csv, label_id_column, id_column, embedding, jobs):
  """Write a QA report of CASES_CSV (pyradiomics batch format) under --out."""
  logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
  import radiomics_ssl

  radiomics_ssl.register()
  from radiomics_ssl.cases import CaseError, read_batch_csv
  from radiomics_ssl.extract.cli import SettingsError, parse_overrides

  try:
    rows = read_batch_csv(cases_csv)
    if labels_csv:
      rows = _join_labels(rows, labels_csv, label_column, id_column, label_id_column or id_column)
    if label_column and rows and label_column not in rows[0]:
      raise CaseError(f"{cases_csv}: --label-column {label_column!r} is not a column ({list(rows[0])})")
    report = inspect_cases(rows, param_file, parse_overrides(settings), out_dir, label_column, id_column, embedding, jobs)
  except (CaseError, SettingsError, ValueError, RuntimeError) as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(2)
  click.echo(f"{report.extracted} extracted, {report.failed} failed, {report.warned} warned. Report: {report.index}")
  sys.exit(1 if report.failed else 0)


def _join_labels(rows, labels_csv, label_column, id_column, label_id_column):
  """The rows with `label_column` from the labels CSV (empty where a case has no label)."""
  from radiomics_ssl.evaluate.features import load_labels

  if not label_column:
    raise ValueError("--labels needs --label-column")
  labels, _ = load_labels(labels_csv, label_id_column, label_column)
  return [dict(row, **{label_column: labels.get(row.get(id_column, ""), "")}) for row in rows]


def inspect_cases(rows, param_file, overrides, out_dir, label_column=None, id_column="ID", embedding="pca", jobs=1):
  """Extract every case, then write the pictures, the tables and index.html; -> Report (index.html's path
  and the counts of extracted, failed and warned cases)."""
  from tqdm import tqdm

  from radiomics_ssl.extract import _pyradiomics
  from radiomics_ssl.extract.batch import EncoderStage, build_case_extractor, extract_case

  extractor, ssl = build_case_extractor(param_file, overrides)
  if ssl is None:
    raise ValueError(f"{param_file}: the ssl feature class is not enabled; there is nothing to inspect")
  os.makedirs(os.path.join(out_dir, "cases"), exist_ok=True)
  work = [(index, row, extractor, None) for index, row in enumerate(rows, start=1)]
  stage = EncoderStage(ssl, None)
  progress = dict(total=len(work), desc="inspect", unit="case", disable=None, file=sys.stderr)
  if jobs > 1:
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_pyradiomics.configure_worker, initargs=(None,)) as pool:
      results = list(tqdm(stage.run(pool.imap(extract_case, work)), **progress))
  else:
    results = list(tqdm(stage.run(map(extract_case, work)), **progress))
  return write_report(results, rows, stage.encoder, param_file, out_dir, label_column, id_column, embedding)


def write_report(results, rows, encoder, param_file, out_dir, label_column, id_column, embedding):
  import numpy as np

  from radiomics_ssl.evaluate.features import is_trad, number
  from radiomics_ssl.extract.featureclass import FEATURE_DIM, ssl_column
  from radiomics_ssl.inspect import checks, page, pictures

  contract = encoder.contract
  names = [row.get(id_column) or f"case {index}" for index, row in enumerate(rows, start=1)]
  good = [i for i, result in enumerate(results) if result.error is None and result.rois]
  ssl = np.array([[float(results[i].vector[ssl_column("original", j)]) for j in range(FEATURE_DIM)] for i in good])
  cohort_std = float(np.median(ssl.std(axis=1))) if len(good) else None
  table, sheet = [], []
  for index, (name, row, result) in enumerate(zip(names, rows, results), start=1):
    entry = {"ID": name, "Image": row["Image"], "Mask": row["Mask"], "error": result.error, "warnings": []}
    if label_column:
      entry[label_column] = row.get(label_column, "")
    prepared = result.rois[0][1] if result.error is None and result.rois else None
    if prepared is not None:
      features = ssl[good.index(index - 1)]
      entry["warnings"] = checks.case_warnings(prepared, contract, features, cohort_std)
      entry.update(_geometry(result.vector, prepared))
      png = os.path.join("cases", f"{index}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png")
      pictures.save(pictures.case_figure(prepared, contract, f"{name}: what the encoder sees", entry["warnings"]),
                    os.path.join(out_dir, png))
      entry["png"] = png
    table.append(entry)
    sheet.append((name, prepared, bool(entry["warnings"])))
  pictures.contact_sheet(sheet, os.path.join(out_dir, "contact_sheet.png"))
  maps = []
  good_names = [names[i] for i in good]
  labels = [rows[i].get(label_column, "") for i in good] if label_column else None
  map_outliers = {}
  if len(good) >= 3:
    map_outliers["ssl"] = pictures.feature_map(ssl, good_names, labels, os.path.join(out_dir, "ssl_map.png"),
                                               "ssl features", embedding, label_column)
    maps.append(("ssl features, one point per case" + (f", coloured by {label_column}" if label_column else ""),
                 "ssl_map.png"))
    trad_columns = [key for key in results[good[0]].vector if is_trad(key)]
    if trad_columns:
      trad = np.array([[number(results[i].vector.get(key)) for key in trad_columns] for i in good])
      map_outliers["classical"] = pictures.feature_map(trad, good_names, labels, os.path.join(out_dir, "classical_map.png"),
                                                       "classical features", embedding, label_column)
      pictures.cross_correlation_density(ssl, trad, os.path.join(out_dir, "ssl_x_classical.png"))
      maps += [("classical features, the same map", "classical_map.png"),
               ("correlation of every ssl feature with every classical feature (Fig. 2 style)", "ssl_x_classical.png")]
  _write_features(results, os.path.join(out_dir, "features.csv"))
  failed = sum(1 for entry in table if entry["error"])
  warned = sum(1 for entry in table if entry["warnings"])
  summary = [f"{len(rows)} case(s) from {param_file}: {len(rows) - failed} extracted, {failed} failed, {warned} with warnings.",
             f"Weights {encoder.weights.name} (sha256 {encoder.weights.sha256[:12]}...), contract: {contract.modality}, "
             f"{contract.box}^3 at {contract.spacing_mm:g} mm, {contract.intensity} window {list(contract.window)}, "
             f"large ROIs {contract.large_roi}, layout {contract.layout}.",
             "Outliers of the maps: " + ("; ".join(f"{kind}: {', '.join(found) or 'none'}" for kind, found in map_outliers.items())
                                         or "too few cases for maps")]
  contact = ("contact sheet: the axial mid-slice of every case's box, as the encoder receives it (ROI in red; "
             "(!) marks a warning)", "contact_sheet.png")
  index = page.write_index(out_dir, "radiomics_ssl QA report: what the encoder sees", summary, contact, maps, table,
                           label_column)
  return Report(index, len(rows) - failed, failed, warned)


def _geometry(vector, prepared):
  """The table's ROI volume (from pyradiomics' diagnostics), box spacing, window and field of view."""
  import numpy as np

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


def _write_features(results, path):
  import csv

  rows = [result.vector for result in results if result.error is None]
  if not rows:
    return
  columns = list(dict.fromkeys(key for row in rows for key in row))
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, columns)
    writer.writeheader()
    writer.writerows(rows)


if __name__ == "__main__":
  main()
