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
import sys

import click

from radiomics_ssl.config import ID_COLUMN
from radiomics_ssl.extract.options import batch_command, configure_logging


@batch_command("report", "pyradiomics parameter file with the ssl class (as for pyradiomicsssl).")
@click.option("--label-column", help="Column of CASES_CSV (or of --labels) that colours the feature maps.")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False),
              help="A labels CSV holding --label-column, joined to CASES_CSV on the case id (as radiomics-ssl-evaluate).")
@click.option("--label-id-column", help="Case id column of --labels (default: --id-column).")
@click.option("--id-column", default=ID_COLUMN, show_default=True, help="Column of CASES_CSV naming the cases.")
@click.option("--embedding", type=click.Choice(["pca", "umap"]), default="pca", show_default=True)
@click.option("--jobs", "-j", default=1, show_default=True, type=int, help="Processes for the per-case step.")
def main(cases_csv, param_file, out_dir, settings, label_column, labels_csv, label_id_column, id_column, embedding, jobs):
  """Write a QA report of CASES_CSV (pyradiomics batch format) under --out."""
  configure_logging()
  import radiomics_ssl

  radiomics_ssl.register()
  from radiomics_ssl.cases import CaseError, read_batch_csv
  from radiomics_ssl.extract.cli import SettingsError, parse_overrides
  from radiomics_ssl.inspect.report import inspect_cases

  try:
    rows = read_batch_csv(cases_csv)
    if labels_csv:
      rows = _join_labels(rows, labels_csv, label_column, id_column, label_id_column or id_column)
    if label_column and rows and label_column not in rows[0]:
      raise CaseError(f"{cases_csv}: --label-column {label_column!r} is not a column ({list(rows[0])})")
    report = inspect_cases(rows, param_file, parse_overrides(settings), out_dir, label_column=label_column,
                           id_column=id_column, embedding=embedding, jobs=jobs)
  except (CaseError, SettingsError, ValueError, RuntimeError) as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(2)
  click.echo(f"{report.extracted} extracted, {report.failed} failed, {report.warned} warned. Report: {report.index}")
  sys.exit(1 if report.failed else 0)


def _join_labels(rows, labels_csv, label_column, id_column, label_id_column):
  """The rows with `label_column` from the labels CSV (empty where a case has no label)."""
  from radiomics_ssl.tables import load_labels

  if not label_column:
    raise ValueError("--labels needs --label-column")
  labels, _ = load_labels(labels_csv, label_id_column, label_column)
  return [dict(row, **{label_column: labels.get(row.get(id_column, ""), "")}) for row in rows]


if __name__ == "__main__":
  main()
