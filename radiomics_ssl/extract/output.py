"""How `pyradiomicsssl --out FILE` writes, so that FILE always stays a file a reader can read.

pyradiomics' `--out` appends, and writes a header at every run, so two runs into one CSV leave two
headers (the evaluator then finds no ID column), and a rerun doubles every row. pyradiomics users
collect cases run by run into one file, so we keep appending, on two conditions:
- a CSV is appended to only when its header is this run's; otherwise the rows go to the first free
  sibling (`features-2.csv`), and the command says so and exits 1: nothing is lost, nothing is mixed;
- no run appends a case the file already holds (same ID, image, mask and label): refused before any
  case is extracted (exit 2), because a study reads duplicate rows as two nodules.
A JSON file is one list, extended in place; a text file is appended to, as pyradiomics does.
"""
import csv
import io
import json
import os

KEY_COLUMNS = ("ID", "Image", "Mask", "Label", "Label_channel", "ROI", "SeriesInstanceUID")


class OutputError(RuntimeError):
  """--out cannot take this run's rows as asked; `before_extraction` says whether any case ran."""

  def __init__(self, message, before_extraction):
    super().__init__(message)
    self.before_extraction = before_extraction


def check_no_duplicates(path, cases, format_path=os.path.abspath):
  """Refuse (OutputError) when `path` already holds a row for any of `cases` (batch CSV rows, whose
  Image and Mask are written through `format_path`, pyradiomics' --format-path rule)."""
  held = {_key(row) for row in _rows(path)}
  repeated = [case for case in cases if _key(case, format_path) in held]
  if repeated:
    first = repeated[0].get("ID") or repeated[0].get("Image")
    raise OutputError(f"{path} already holds rows for {len(repeated)} of these {len(cases)} case(s) (first: {first}); "
                      "write to another --out, or remove the file to extract them again", before_extraction=True)


def write(path, text, output_format):
  """Write pyradiomics' output `text` (one run, in `output_format`) to `path`."""
  if output_format == "csv":
    return _write_csv(path, text)
  if output_format == "json":
    rows = (_rows(path) if _has_content(path) else []) + json.loads(text)
    return _atomic(path, json.dumps(rows, indent=2))
  with open(path, "a") as stream:
    stream.write(text)


def _write_csv(path, text):
  header, _, body = text.partition("\n")
  if not _has_content(path):
    return _atomic(path, text)
  with open(path, newline="") as stream:
    existing = next(csv.reader(stream), [])
  if existing == next(csv.reader([header])):
    with open(path, "a") as stream:
      stream.write(body)
    return None
  sibling = _free_sibling(path)
  _atomic(sibling, text)
  added, missing = len(set(header.split(",")) - set(existing)), len(set(existing) - set(header.split(",")))
  raise OutputError(f"{path} has another header ({len(existing)} columns; this run's has {added} more and {missing} "
                    f"fewer): its {body.count(chr(10))} row(s) were written to {sibling} instead", before_extraction=False)


def _rows(path):
  """The rows already in a CSV or JSON --out ([] when there are none, or for a text file)."""
  if not _has_content(path):
    return []
  with open(path, newline="") as stream:
    text = stream.read()
  if text.lstrip().startswith("["):
    return json.loads(text)
  if text.startswith("Case-"):  # pyradiomics' txt format: no rows to compare
    return []
  return list(csv.DictReader(io.StringIO(text)))


def _key(row, format_path=str):
  def part(column):
    value = str(row.get(column) or "")
    return format_path(value) if value and column in ("Image", "Mask") else value

  return tuple(part(column) for column in KEY_COLUMNS)


def _has_content(path):
  return os.path.isfile(path) and os.path.getsize(path) > 0


def _free_sibling(path):
  stem, extension = os.path.splitext(path)
  number = 2
  while os.path.exists(f"{stem}-{number}{extension}"):
    number += 1
  return f"{stem}-{number}{extension}"


def _atomic(path, text):
  folder = os.path.dirname(os.path.abspath(path))
  temporary = os.path.join(folder, f".{os.path.basename(path)}.partial")
  with open(temporary, "w") as stream:
    stream.write(text)
  os.replace(temporary, path)
