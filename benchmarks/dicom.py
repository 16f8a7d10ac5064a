"""DICOM against a reference conversion made by another tool, and what reading DICOM costs.

  python benchmarks/dicom.py [--data ../shared/data] [--repeats 3]

- STS_001-003 (PET series in SUV with an RTSTRUCT) against MIRP's NIfTI of the same image and mask:
  the image's max |SUV difference|, the mask's Dice and voxel counts, all 107 classical features and
  the 256 ssl features of params/ssl_pet.yaml from both paths (worst relative difference), and the
  wall time of `pyradiomicsssl` per case, DICOM against NIfTI (median of --repeats, interleaved);
- dcmqi's bit-packing SEG phantom against dcmqi's label map, voxel for voxel.
"""
import argparse
import csv
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomics_ssl.cases import load_row

REPO = Path(__file__).resolve().parents[1]


def extract(image, mask, folder, name):
  out = os.path.join(folder, f"{name}.csv")
  start = time.perf_counter()
  subprocess.run(["pyradiomicsssl", image, mask, "--param", str(REPO / "params" / "ssl_pet.yaml"), "-f", "csv", "-o", out],
                 check=True, capture_output=True)
  seconds = time.perf_counter() - start
  with open(out, newline="") as stream:
    row = next(csv.DictReader(stream))
  os.remove(out)
  return row, seconds


def worst_relative(a, b, keys):
  x, y = (np.array([float(row[k]) for k in keys]) for row in (a, b))
  relative = np.abs(x - y) / np.maximum(np.abs(y), 1e-12)
  return float(relative.max()), keys[int(relative.argmax())], float(np.abs(x - y).max() / np.abs(y).max())


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  root = Path(args.data) / "dicom"
  print("| case | max abs SUV diff | Dice | voxels DICOM / MIRP | classical: worst rel. diff (feature) | "
        "ssl: worst diff / largest magnitude | wall s DICOM | wall s NIfTI |")
  print("|---|---|---|---|---|---|---|---|")
  with tempfile.TemporaryDirectory() as folder:
    for case in ("STS_001", "STS_002", "STS_003"):
      dicom = {"Image": str(root / "sts" / case / "image"), "Mask": str(root / "sts" / case / "rtstruct" / "RS.dcm")}
      mirp = root / "sts" / case / "mirp-nifti"
      image, mask, _, _ = load_row(dicom)
      reference, reference_mask = sitk.ReadImage(str(mirp / "image.nii.gz")), sitk.ReadImage(str(mirp / "mask.nii.gz"))
      suv = np.abs(sitk.GetArrayFromImage(image) - sitk.GetArrayFromImage(reference)).max()
      a, b = sitk.GetArrayFromImage(mask) > 0, sitk.GetArrayFromImage(reference_mask) > 0
      dice = 2 * np.sum(a & b) / (a.sum() + b.sum())
      times = {"dicom": [], "nifti": []}
      for _ in range(args.repeats):
        from_dicom, seconds = extract(dicom["Image"], dicom["Mask"], folder, "dicom")
        times["dicom"].append(seconds)
        from_nifti, seconds = extract(str(mirp / "image.nii.gz"), str(mirp / "mask.nii.gz"), folder, "nifti")
        times["nifti"].append(seconds)
      classical = [k for k in from_nifti if k.startswith("original_") and "_ssl_" not in k]
      ssl = [k for k in from_nifti if k.startswith("original_ssl_")]
      worst, feature, _ = worst_relative(from_dicom, from_nifti, classical)
      _, _, ssl_worst = worst_relative(from_dicom, from_nifti, ssl)
      print(f"| {case} | {suv:.2g} | {dice:.4f} | {a.sum()} / {b.sum()} | {worst:.2g} ({feature}, of {len(classical)}) | "
            f"{ssl_worst:.2g} (of {len(ssl)}) | {statistics.median(times['dicom']):.2f} | "
            f"{statistics.median(times['nifti']):.2f} |", flush=True)
  phantom = root / "seg-23x38x3"
  for series in ("image", "multiframe"):
    _, mask, _, _ = load_row({"Image": str(phantom / series), "Mask": str(phantom / "seg" / "label.seg")})
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(phantom / "nrrd" / "label.nrrd")))
    ours = sitk.GetArrayFromImage(mask)
    print(f"SEG phantom from {series}/: {int(np.sum(ours != (reference > 0)))} of {ours.size} voxels differ from dcmqi's "
          f"label map ({int(ours.sum())} inside)")


if __name__ == "__main__":
  main()
