"""`radiomics-ssl-subvolumes`: random sub-volumes of whole scans as label-free training cases.

  radiomics-ssl-subvolumes SCANS.csv --out subvolumes/ --per-scan 8 --range -950 -500 --size 4 20 [--seed 0]

ROI boxes alone give a few hundred training cases; the scans they come from hold far more of what
an encoder should know (the LIDC study's candidate B4, results/lidc/PREREGISTRATION-4.md). For every
distinct image of SCANS.csv (a pyradiomics batch CSV; its masks are not used), up to `--per-scan`
centres are drawn at random among the voxels whose value lies in `--range` (image units: for CT in
HU, -950..-500 is aerated lung), at least `--margin` mm inside the scan and `--spacing` mm apart.
Each centre becomes a cube of the scan, its side drawn uniformly from `--size` mm, written as its
own mask (`masks/<scan>-sv<i>.nii.gz`, label 1, the image's geometry). A sub-volume is an ROI like
any other: training and extraction both see an ROI's bounding box (pyradiomics hands a feature
class the mask's crop), so the cube is what the encoder sees, and `--size` should match the ROIs
the features are for (LIDC nodules: 4-20 mm). `subvolumes.csv` lists them for `radiomics-ssl-train`,
through the same case loader, `prepare_roi` and box cache as every other case.
The draw depends only on the seed and the scan's place in SCANS.csv, so a rerun writes the same files.
"""
import logging
import os
import sys
from pathlib import Path

import click
import numpy as np
import SimpleITK as sitk

from radiomics_ssl.cases import CaseError, read_batch_csv, read_image
from radiomics_ssl.datasets import write_batch_csv

logger = logging.getLogger(__name__)


def draw_centres(array, spacing, value_range, count, margin_mm, spacing_mm, rng):
  """Up to `count` voxel indices (z, y, x) of `array` whose value lies in `value_range`, at least
  `margin_mm` from every face and `spacing_mm` from each other, in random order."""
  voxel_mm = np.asarray(spacing[::-1], float)  # per array axis (z, y, x)
  margin = np.ceil(margin_mm / voxel_mm).astype(int)
  inner = tuple(slice(m, max(m, n - m)) for m, n in zip(margin, array.shape))
  admissible = np.zeros(array.shape, bool)
  admissible[inner] = (array[inner] >= value_range[0]) & (array[inner] <= value_range[1])
  candidates = np.flatnonzero(admissible)
  tries = rng.choice(len(candidates), size=min(len(candidates), max(50 * count, 1000)), replace=False)
  chosen = []
  for index in np.stack(np.unravel_index(candidates[tries], array.shape), axis=1).reshape(-1, 3):
    if chosen and np.min(np.linalg.norm((np.array(chosen) - index) * voxel_mm, axis=1)) < spacing_mm:
      continue
    chosen.append(index)
    if len(chosen) == count:
      break
  return np.array(chosen, int).reshape(-1, 3)


def cube_mask(image, centre, side_mm):
  """A mask in `image`'s geometry: label 1 on the cube of side about `side_mm` around voxel `centre`
  (z, y, x), at least one voxel on each axis."""
  labels = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
  half = np.round(side_mm / 2 / np.asarray(image.GetSpacing()[::-1])).astype(int)
  labels[tuple(slice(max(0, c - h), c + h + 1) for c, h in zip(centre, half))] = 1
  mask = sitk.GetImageFromArray(labels)
  mask.CopyInformation(image)
  return mask


def scan_name(position, row):
  """A file-safe name, unique within one SCANS.csv: its place, then its patient, ID or file stem."""
  stem = row.get("Patient") or row.get("ID") or Path(row["Image"]).name.split(".")[0]
  return f"s{position:04d}-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)


def write_subvolumes(scans_csv, out_dir, per_scan, value_range, size_mm, seed=0, margin_mm=16.0, spacing_mm=16.0):
  """Write `out_dir/masks/*.nii.gz` and `out_dir/subvolumes.csv`; returns (csv path or None when nothing
  was drawn, rows, images that gave none). Unreadable images are errors naming every one of them."""
  scans, seen = [], set()
  for row in read_batch_csv(scans_csv):
    if row["Image"] not in seen:
      seen.add(row["Image"])
      scans.append(row)
  os.makedirs(os.path.join(out_dir, "masks"), exist_ok=True)
  rows, empty, bad = [], [], []
  for position, scan in enumerate(scans):
    try:
      image = read_image(scan["Image"], "image")
    except CaseError as error:
      bad.append(str(error))
      continue
    rng = np.random.default_rng([seed, position])
    centres = draw_centres(sitk.GetArrayViewFromImage(image), image.GetSpacing(), value_range, per_scan,
                           margin_mm, spacing_mm, rng)
    if not len(centres):
      empty.append(scan["Image"])
      continue
    name = scan_name(position, scan)
    for number, (centre, side) in enumerate(zip(centres, rng.uniform(*size_mm, size=len(centres))), start=1):
      mask_path = os.path.abspath(os.path.join(out_dir, "masks", f"{name}-sv{number}.nii.gz"))
      sitk.WriteImage(cube_mask(image, centre, side), mask_path, True)
      rows.append({"ID": f"{name}-sv{number}", "Patient": scan.get("Patient") or name, "Cohort": "subvolumes",
                   "Image": os.path.abspath(scan["Image"]), "Mask": mask_path, "Label": 1})
  if bad:
    raise CaseError(f"{len(bad)} unreadable image(s) in {scans_csv}:\n  " + "\n  ".join(bad))
  path = write_batch_csv(os.path.join(out_dir, "subvolumes.csv"), rows) if rows else None
  return path, rows, empty


def _ordered_pair(name):
  def check(ctx, param, value):
    if value[0] > value[1]:
      raise click.BadParameter(f"{value}: LOW must not exceed HIGH", param_hint=name)
    return value
  return check


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scans_csv", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for masks/ and subvolumes.csv.")
@click.option("--per-scan", required=True, type=click.IntRange(min=1), help="Sub-volumes drawn per scan (at most).")
@click.option("--range", "value_range", required=True, type=float, nargs=2, metavar="LOW HIGH", callback=_ordered_pair("--range"),
              help="Values a centre voxel may have, in image units (CT: HU; -950 -500 is aerated lung).")
@click.option("--size", "size_mm", required=True, type=click.FloatRange(min=0), nargs=2, metavar="LOW HIGH",
              callback=_ordered_pair("--size"), help="Side of each cube, mm, drawn uniformly (match your ROIs).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--margin", "margin_mm", default=16.0, show_default=True, type=float, help="Least distance of a centre from the scan's faces, mm.")
@click.option("--spacing", "spacing_mm", default=16.0, show_default=True, type=float, help="Least distance between two centres, mm.")
def main(scans_csv, out_dir, per_scan, value_range, size_mm, seed, margin_mm, spacing_mm):
  """Draw random sub-volumes of the scans of SCANS_CSV as training cases (subvolumes.csv)."""
  logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
  try:
    path, rows, empty = write_subvolumes(scans_csv, out_dir, per_scan, value_range, size_mm, seed, margin_mm, spacing_mm)
  except CaseError as error:
    click.echo(f"Error: {error}", err=True)
    sys.exit(1)
  for image in empty:
    logger.warning("%s: no voxel in %s at least %g mm inside the scan; no sub-volume drawn", image, value_range, margin_mm)
  if not rows:
    click.echo(f"Error: no sub-volume drawn from {scans_csv} (range {value_range})", err=True)
    sys.exit(1)
  click.echo(f"{path}: {len(rows)} sub-volumes of {len({row['Image'] for row in rows})} scan(s)")


if __name__ == "__main__":
  main()
