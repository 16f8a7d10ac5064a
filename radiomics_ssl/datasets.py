"""Batch CSVs for the public cohorts this project trains and validates on, in their released layout.

- `sts`: the IBSI release of TCIA Soft-tissue-Sarcoma (51 patients; `STS_xxx/MR_T1_*`, `PET_*`,
  `labels.csv` with grade and grade_high).
- `pyradiomics`: pyradiomics' five test cases (`<name>_image.nrrd`, `<name>_label.nrrd`).
- `openkbp`: OpenKBP head-and-neck CTs (`pt_N/ct.nii.gz`, `ptv70.nii.gz`, `organs.nii.gz`, and
  `cases.csv` with the challenge's split).
- `lidc`: LIDC-IDRI lung nodules (`image/<case_id>.nii.gz`, `mask/<case_id>.nii.gz`, `labels.csv`
  with `patient_id` and the binary labels LIDC_LABELS). Several nodules share a patient: group
  every split by the `Patient` column.

Every row has `ID`, `Image`, `Mask` and `Label` (pyradiomics' batch columns) plus `Patient` and
`Cohort`, so that features of several ROIs per patient can be grouped by patient.

  python -m radiomics_ssl.datasets ../shared/data cases.csv --cohort sts-pet
"""
import csv
import os
from pathlib import Path

import click

PYRADIOMICS_CASES = {"brain1": "MR", "brain2": "MR", "breast1": "MR", "lung1": "CT", "lung2": "CT"}
OPENKBP_ORGANS = {1: "Brainstem", 2: "SpinalCord", 3: "RightParotid", 4: "LeftParotid", 5: "Esophagus", 6: "Larynx",
                  7: "Mandible"}
COHORTS = ("sts-mr", "sts-pet", "pyradiomics", "pyradiomics-mr", "pyradiomics-ct", "openkbp-ptv", "openkbp-organs",
           "lidc")
LIDC_LABELS = ("malignant", "subsolid", "spiculated", "calcified")  # the four binary tasks, all imbalanced
COLUMNS = ["ID", "Patient", "Cohort", "Image", "Mask", "Label"]


def _row(case_id, patient, cohort, image, mask, label=1):
  # absolute paths: a batch CSV's relative paths are read relative to the CSV itself
  return {"ID": case_id, "Patient": patient, "Cohort": cohort, "Image": os.path.abspath(image),
          "Mask": os.path.abspath(mask), "Label": label}


def sts_rows(data_dir, modality):
  """One row per STS patient; modality 'MR_T1' or 'PET'. IDs are the patient ids of labels.csv."""
  folder = Path(data_dir) / "sts"
  cohort = {"MR_T1": "sts-mr", "PET": "sts-pet"}[modality]
  return [_row(case.name, case.name, cohort, case / f"{modality}_image.nii.gz",
               case / f"{modality}_mask.nii.gz") for case in sorted(folder.glob("STS_*"))]


def pyradiomics_rows(data_dir, modality=None):
  folder = Path(data_dir) / "pyradiomics"
  return [_row(name, name, "pyradiomics", folder / f"{name}_image.nrrd", folder / f"{name}_label.nrrd")
          for name, kind in PYRADIOMICS_CASES.items() if modality in (None, kind)]


def openkbp_rows(data_dir, splits=("train", "validation", "test"), rois=("ptv70",)):
  """Rows for the OpenKBP patients of `splits`: the PTV70 (label 1 of ptv70.nii.gz) and, with
  'organs' in `rois`, every organ contoured in that patient's organs.nii.gz (one row per label)."""
  import numpy as np
  import SimpleITK as sitk

  folder = Path(data_dir) / "openkbp"
  with open(folder / "cases.csv", newline="") as stream:
    patients = [row["patient"] for row in csv.DictReader(stream) if row["split"] in splits]
  rows = []
  for patient in patients:
    ct = folder / patient / "ct.nii.gz"
    if "ptv70" in rois:
      rows.append(_row(f"{patient}-PTV70", patient, "openkbp-ptv", ct, folder / patient / "ptv70.nii.gz"))
    if "organs" in rois:
      present = np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / patient / "organs.nii.gz"))))  # a view of a temporary segfaults
      rows += [_row(f"{patient}-{OPENKBP_ORGANS[label]}", patient, "openkbp-organs", ct,
                    folder / patient / "organs.nii.gz", int(label)) for label in present if label in OPENKBP_ORGANS]
  return rows


def lidc_rows(data_dir):
  """One row per LIDC nodule, with its patient and the LIDC_LABELS columns (carried into the features)."""
  folder = Path(data_dir) / "lidc"
  with open(folder / "labels.csv", newline="") as stream:
    labels = list(csv.DictReader(stream))
  return [dict(_row(row["case_id"], row["patient_id"], "lidc", folder / "image" / f"{row['case_id']}.nii.gz",
                    folder / "mask" / f"{row['case_id']}.nii.gz"), **{name: row[name] for name in LIDC_LABELS})
          for row in labels]


def cohort_rows(data_dir, cohort):
  """The rows of one of COHORTS."""
  return {
    "sts-mr": lambda: sts_rows(data_dir, "MR_T1"),
    "sts-pet": lambda: sts_rows(data_dir, "PET"),
    "pyradiomics": lambda: pyradiomics_rows(data_dir),
    "pyradiomics-mr": lambda: pyradiomics_rows(data_dir, "MR"),
    "pyradiomics-ct": lambda: pyradiomics_rows(data_dir, "CT"),
    "openkbp-ptv": lambda: openkbp_rows(data_dir, rois=("ptv70",)),
    "openkbp-organs": lambda: openkbp_rows(data_dir, rois=("organs",)),
    "lidc": lambda: lidc_rows(data_dir),
  }[cohort]()


def write_batch_csv(path, rows):
  """Write rows as a pyradiomics batch CSV; returns the path."""
  missing = [row["Image"] for row in rows if not os.path.isfile(row["Image"])]
  if missing or not rows:
    raise FileNotFoundError(f"{path}: {len(rows)} row(s), missing images {missing[:3]}")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, COLUMNS + [c for c in rows[0] if c not in COLUMNS])
    writer.writeheader()
    writer.writerows(rows)
  return str(path)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_csv", type=click.Path(dir_okay=False))
@click.option("--cohort", "cohorts", multiple=True, required=True, type=click.Choice(COHORTS), help="Repeat to concatenate.")
def main(data_dir, out_csv, cohorts):
  """Write a pyradiomics batch CSV of the public cohorts under DATA_DIR (../shared/data)."""
  click.echo(write_batch_csv(out_csv, sum((cohort_rows(data_dir, cohort) for cohort in cohorts), [])))


if __name__ == "__main__":
  main()
