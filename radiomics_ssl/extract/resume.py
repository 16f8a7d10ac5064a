"""Per-case files of `--out-dir` that can never be served stale.

Each extracted case is stored as `<ID>-<key>.csv` (the feature row, as pyradiomics writes it) beside
`<ID>-<key>.json`, its provenance: what made the row. The key hashes the case's identity (image
path, mask path, label, label channel), so the files follow the case, not its row number, and
reordering the batch CSV cannot mix cases up.

The provenance holds the case's ID and label, its image and mask paths with the sha256 of their
contents, and the run's fingerprint (`run_fingerprint`): every effective setting, the enabled
feature classes and image types, the weights' sha256, and the versions of radiomics_ssl and
pyradiomics. A re-run reuses a row only when all of it matches. Otherwise it recomputes the case
and says why (`reasons`): a per-case file is a cache, so recomputing is always safe, while refusing
would make the user delete files by hand to get what they asked for.

Writes are ordered so that a provenance file always describes the row beside it: the old
provenance is removed, the row replaced atomically, and only then the new provenance written.
"""
import csv
import hashlib
import json
import os
import re

from radiomics_ssl.cases import DICOM_COLUMNS, CaseError, input_sha256

PROVENANCE_SUFFIX = ".json"
ROW_SUFFIX = ".csv"
SECTIONS = (  # provenance keys -> the reason given when they differ, in the order reported
  ("case", "case row changed"),
  ("image_sha256", "image file changed"),
  ("mask_sha256", "mask file changed"),
  ("settings", "settings changed"),
  ("features", "enabled features or image types changed"),
  ("weights_sha256", "weights changed"),
  ("versions", "software version changed"),
)


def run_fingerprint(extractor, weights_sha256=None):
  """What every case of a run shares: effective settings, enabled classes and image types, weights, versions."""
  import radiomics

  from radiomics_ssl import __version__

  return {"settings": _canonical(extractor.settings),
          "features": _canonical({"classes": extractor.enabledFeatures, "image_types": extractor.enabledImagetypes}),
          "weights_sha256": weights_sha256,
          "versions": {"radiomics_ssl": __version__, "pyradiomics": radiomics.__version__}}


def case_stem(case):
  """The file stem of a case: its ID (made file-safe) and a hash of the files and label that define it."""
  identity = "|".join(str(case.get(column) or "") for column in ("Image", "Mask", "Label", "Label_channel"))
  if any(case.get(column) for column in DICOM_COLUMNS):  # several ROIs of one structure set, several series
    identity += "|" + "|".join(str(case.get(column) or "") for column in DICOM_COLUMNS)
  key = hashlib.sha256(identity.encode()).hexdigest()[:16]
  name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(case.get("ID") or "case"))[:64]
  return f"{name}-{key}"


def case_provenance(case, fingerprint):
  """The provenance of one case under a run's fingerprint (hashes its image and mask files)."""
  row = {key: value for key, value in case.items() if key is not None}
  return {"case": row, "image_sha256": _sha256_or_none(case.get("Image"), case.get("SeriesInstanceUID")),
          "mask_sha256": _sha256_or_none(case.get("Mask")), **fingerprint}


def reasons(stored, current):
  """Why a stored provenance does not describe the current case: [] when the row may be reused."""
  if stored is None:
    return ["no provenance (written by another version or interrupted)"]
  return [reason for key, reason in SECTIONS if stored.get(key) != current.get(key)]


def read(out_dir, case):
  """-> (stored row or None, stored provenance or None) for `case` in `out_dir`."""
  row_path, provenance_path = paths(out_dir, case)
  provenance = None
  if os.path.isfile(provenance_path):
    try:
      with open(provenance_path) as stream:
        provenance = json.load(stream)
    except (OSError, ValueError):
      provenance = None
  if not os.path.isfile(row_path):
    return None, provenance
  with open(row_path, newline="") as stream:
    return next(csv.DictReader(stream), None), provenance


def write(out_dir, case, vector, provenance):
  """Store one case's row and its provenance (see the module docstring for the order)."""
  row_path, provenance_path = paths(out_dir, case)
  if os.path.exists(provenance_path):
    os.remove(provenance_path)
  _atomic(row_path, lambda stream: _write_row(stream, vector))
  _atomic(provenance_path, lambda stream: json.dump(provenance, stream, indent=1, sort_keys=True))


def paths(out_dir, case):
  stem = os.path.join(out_dir, case_stem(case))
  return stem + ROW_SUFFIX, stem + PROVENANCE_SUFFIX


def summary(reasons_per_case):
  """'3 case(s) recomputed: settings changed (3)' for the cases that had a stale file, or None."""
  stale = [found for found in reasons_per_case if found]
  if not stale:
    return None
  counts = {}
  for found in stale:
    for reason in found:
      counts[reason] = counts.get(reason, 0) + 1
  return f"{len(stale)} case(s) recomputed: " + ", ".join(f"{reason} ({n})" for reason, n in counts.items())


def _write_row(stream, vector):
  writer = csv.DictWriter(stream, fieldnames=list(vector), lineterminator="\n")
  writer.writeheader()
  writer.writerow(vector)


def _atomic(path, write_to):
  with open(path + ".tmp", "w", newline="") as stream:
    write_to(stream)
  os.replace(path + ".tmp", path)


def _sha256_or_none(path, series_uid=None):
  """cases.input_sha256 (a file's, or a DICOM series folder's), or None where the case will fail."""
  try:
    return input_sha256(path, "input", series_uid)
  except CaseError:
    return None


def _canonical(value):
  """JSON-ready, order-independent form of settings (tuples as lists, numpy scalars as Python)."""
  return json.loads(json.dumps(value, sort_keys=True, default=str))
