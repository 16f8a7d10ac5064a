"""Write a pyradiomics batch CSV of the real cases in ../shared/data (STS MR_T1 and PET, and the
pyradiomics test cases), the cohort the shipped weights were trained on.

  python examples/shared_cohort_csv.py ../shared/data runs/shared_cases.csv [--only sts-mr|sts-pet|pyradiomics]
"""
import argparse
import csv
import os
from pathlib import Path

PYRADIOMICS_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def cohort_rows(data_dir, only=None):
  data_dir = Path(data_dir).resolve()
  rows = []
  for case in sorted((data_dir / "sts").glob("STS_*")):
    for modality in ("MR_T1", "PET"):
      group = "sts-mr" if modality == "MR_T1" else "sts-pet"
      if only in (None, group):
        rows.append({"ID": case.name, "Modality": modality, "Image": str(case / f"{modality}_image.nii.gz"),
                     "Mask": str(case / f"{modality}_mask.nii.gz")})
  if only in (None, "pyradiomics"):
    for name in PYRADIOMICS_CASES:
      rows.append({"ID": name, "Modality": "pyradiomics", "Image": str(data_dir / "pyradiomics" / f"{name}_image.nrrd"),
                   "Mask": str(data_dir / "pyradiomics" / f"{name}_label.nrrd")})
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("data_dir")
  parser.add_argument("out_csv")
  parser.add_argument("--only", choices=["sts-mr", "sts-pet", "pyradiomics"])
  args = parser.parse_args()
  rows = cohort_rows(args.data_dir, args.only)
  missing = [r["Image"] for r in rows if not os.path.isfile(r["Image"])]
  if missing or not rows:
    raise SystemExit(f"{args.data_dir}: missing files {missing[:3]} (found {len(rows)} rows)")
  os.makedirs(os.path.dirname(os.path.abspath(args.out_csv)), exist_ok=True)
  with open(args.out_csv, "w", newline="") as stream:
    writer = csv.DictWriter(stream, ["ID", "Modality", "Image", "Mask"])
    writer.writeheader()
    writer.writerows(rows)
  print(f"{args.out_csv}: {len(rows)} cases")


if __name__ == "__main__":
  main()
