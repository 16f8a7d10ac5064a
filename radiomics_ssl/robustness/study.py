"""A robustness study of a batch: perturb every case `count` times, extract every enabled feature
from each perturbed case through the one batch runner, and score each feature by its ICC(1,1)
across cases (Zwanenburg et al. 2019).

Files under the output folder:
- perturbed/<case>/<k>-image.nii.gz, <k>-mask.nii.gz: the perturbed cases (cropped around the
  ROI), with perturbed/<case>/perturbations.json, the drawn parameters (a case is perturbed again
  only when that file is missing or was drawn with other settings);
- per_case/: the runner's per-case files with their provenance, so an interrupted run resumes;
- features.csv: one row per perturbed case; icc.csv: one row per feature (class, ICC(1,1), 95% CI);
- summary.csv and summary.md: per feature class, the share with ICC >= 0.75 and >= 0.90 and the
  median ICC; icc.png: the distribution of ICC per class.
"""
import csv
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from radiomics_ssl.config import ID_COLUMN, PerturbationSettings
from radiomics_ssl import perturb
from radiomics_ssl.robustness.icc import icc_1_1
from radiomics_ssl.tables import feature_class, is_classical, is_ssl, number, write_csv

logger = logging.getLogger("radiomics_ssl.robustness")
THRESHOLDS = (0.75, 0.90)


def run_study(rows, param_file, overrides, out_dir, *, settings=PerturbationSettings(), jobs=1, id_column=ID_COLUMN):
  """-> (icc rows, summary rows, failed cases [(name, error)])."""
  from tqdm import tqdm

  from radiomics_ssl.extract.batch import build_case_extractor
  from radiomics_ssl.extract.runner import run_batch, worker_map

  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  extractor, ssl = build_case_extractor(param_file, overrides)
  names = [str(row.get(id_column) or f"row{index}") for index, row in enumerate(rows, start=1)]
  work = [(name, row, str(out / "perturbed" / _safe(name)), settings, extractor.settings.get("label", 1))
          for name, row in zip(names, rows)]
  with worker_map(perturb_case, work, max(1, jobs), in_process=jobs <= 1) as perturbed:
    made = list(tqdm(perturbed, total=len(work), desc="perturb", unit="case", disable=None))
  failed = [(name, error) for name, _, error in made if error]
  perturbed_rows = [row for _, case_rows, error in made if not error for row in case_rows]
  batch = run_batch(list(enumerate(perturbed_rows, start=1)), extractor, ssl, out_dir=str(out / "per_case"), jobs=jobs,
                    desc="extract perturbed")
  failed += [(result.case.get("Case"), result.error) for result in batch.results if result.error]
  vectors = [result.vector for result in batch.results if result.error is None]
  write_csv(out / "features.csv", vectors)
  icc_rows = feature_iccs(vectors, settings.count)
  write_csv(out / "icc.csv", icc_rows)
  summary = summarise(icc_rows)
  write_csv(out / "summary.csv", summary)
  (out / "summary.md").write_text(summary_markdown(summary, len({v["Case"] for v in vectors}), settings))
  plot_iccs(icc_rows, out / "icc.png")
  return icc_rows, summary, failed


def perturb_case(job):
  """(name, batch row, folder, settings, default label) -> (name, perturbed batch rows, error or None);
  the perturbed files are reused when perturbations.json matches the settings."""
  from radiomics_ssl.cases import CaseError, load_row

  name, row, folder, settings, default_label = job
  folder = Path(folder)
  record = json.loads(json.dumps({"settings": asdict(settings), "image": row["Image"], "mask": row["Mask"],
                                   "label": row.get("Label")}))
  try:
    if _recorded(folder) != record:
      image, mask, label, _ = load_row(row, default_label)
      image, mask = perturb.crop_around_roi(image, mask == label, settings.margin_mm)
      folder.mkdir(parents=True, exist_ok=True)
      draws = []
      for k in range(settings.count):
        drawn = perturb.draw(_seed(name, k), settings)
        perturbed_image, perturbed_mask = perturb.apply(image, mask, drawn, settings)
        _write(perturbed_image, folder / f"{k}-image.nii.gz")
        _write(perturbed_mask, folder / f"{k}-mask.nii.gz")
        draws.append(drawn.to_dict())
      _write_json(folder / "perturbations.json", dict(record, perturbations=draws))
  except (CaseError, ValueError, RuntimeError) as error:
    return name, [], f"{row.get('Image')}, {row.get('Mask')}: {error}"
  extra = {key: value for key, value in row.items() if key not in ("ID", "Image", "Mask", "Label")}
  return name, [dict(extra, ID=f"{name}#{k}", Case=name, Perturbation=k, Image=str(folder / f"{k}-image.nii.gz"),
                     Mask=str(folder / f"{k}-mask.nii.gz"), Label=1) for k in range(settings.count)], None


def feature_iccs(vectors, count):
  """One row per feature column: its class, ICC(1,1) and 95% CI over the cases whose `count`
  perturbations were all extracted."""
  by_case = {}
  for vector in vectors:
    by_case.setdefault(vector["Case"], {})[int(vector["Perturbation"])] = vector
  complete = [case for case, runs in by_case.items() if len(runs) == count]
  if not complete:
    return []
  columns = [c for c in vectors[0] if is_classical(c) or is_ssl(c)]
  rows = []
  for column in columns:
    values = np.array([[number(by_case[case][k].get(column)) for k in range(count)] for case in complete])
    icc, low, high = icc_1_1(values)
    rows.append({"feature": column, "class": feature_class(column), "icc": icc, "ci_low": low, "ci_high": high,
                 "n_cases": len(complete), "perturbations": count})
  return rows


def summarise(icc_rows):
  """Per feature class: how many features (and which share) have ICC >= 0.75 and >= 0.90, and the median ICC."""
  summary = []
  for name in sorted({row["class"] for row in icc_rows}, key=lambda c: (c == "ssl", c)):
    values = np.array([row["icc"] for row in icc_rows if row["class"] == name], dtype=float)
    finite = values[np.isfinite(values)]
    summary.append({"class": name, "features": len(values),
                    **{f"share_icc_{t:.2f}": float(np.mean(finite >= t)) if finite.size else float("nan") for t in THRESHOLDS},
                    **{f"count_icc_{t:.2f}": int(np.sum(finite >= t)) for t in THRESHOLDS},
                    "median_icc": float(np.median(finite)) if finite.size else float("nan")})
  return summary


def summary_markdown(summary, n_cases, settings):
  lines = [f"ICC(1,1) over {n_cases} cases x {settings.count} perturbations ({', '.join(settings.chain)}).", "",
           "| class | features | ICC >= 0.75 | ICC >= 0.90 | median ICC |", "|---|---|---|---|---|"]
  lines += [f"| {row['class']} | {row['features']} | {row['count_icc_0.75']} of {row['features']} | "
            f"{row['count_icc_0.90']} of {row['features']} | {row['median_icc']:.3f} |" for row in summary]
  return "\n".join(lines) + "\n"


def plot_iccs(icc_rows, path):
  """The distribution of ICC(1,1) per feature class, with the 0.75 and 0.90 thresholds."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  classes = sorted({row["class"] for row in icc_rows}, key=lambda c: (c == "ssl", c))
  data = [[row["icc"] for row in icc_rows if row["class"] == name and np.isfinite(row["icc"])] for name in classes]
  fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2, 4))
  ax.boxplot(data, showfliers=False)  # every point is drawn below
  for position, values in enumerate(data, start=1):
    jitter = np.random.default_rng(position).uniform(-0.15, 0.15, len(values))
    ax.scatter(position + jitter, values, s=6, alpha=0.4)
  ax.set_xticks(range(1, len(classes) + 1), [f"{c}\n(n={len(d)})" for c, d in zip(classes, data)], fontsize=8)
  for threshold in THRESHOLDS:
    ax.axhline(threshold, color="grey", lw=0.8, ls="--")
  ax.set_ylabel("ICC(1,1)")
  ax.set_ylim(min(-0.1, min((min(d) for d in data if d), default=0)), 1.02)
  ax.set_title("feature robustness under perturbation", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _seed(name, k):
  return int.from_bytes(hashlib.sha256(f"{name}|{k}".encode()).digest()[:8], "little")


def _safe(name):
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


def _recorded(folder):
  try:
    with open(folder / "perturbations.json") as stream:
      stored = json.load(stream)
  except (OSError, ValueError):
    return None
  stored.pop("perturbations", None)
  return stored


def _write(image, path):
  import SimpleITK as sitk

  sitk.WriteImage(image, str(path) + ".tmp.nii.gz")
  os.replace(str(path) + ".tmp.nii.gz", path)


def _write_json(path, value):
  with open(str(path) + ".tmp", "w") as stream:
    json.dump(value, stream, indent=1, default=list)
  os.replace(str(path) + ".tmp", path)
