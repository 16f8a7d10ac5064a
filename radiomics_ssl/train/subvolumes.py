"""`radiomics-ssl-subvolumes`: random sub-volumes of whole scans as label-free training cases.

  radiomics-ssl-subvolumes SCANS.csv --out subvolumes/ --per-scan 8 --range -950 -500 [--seed 0]

ROI boxes alone give a few hundred training cases; the scans they come from hold far more of what
an encoder should know (the LIDC study's candidate B4, results/lidc/PREREGISTRATION-4.md). For every
distinct image of SCANS.csv (a pyradiomics batch CSV; its masks are not used), up to `--per-scan`
centres are drawn at random among the voxels whose value lies in `--range` (image units: for CT in
HU, -950..-500 is aerated lung), at least `--margin` mm inside the scan and `--spacing` mm apart. Each
centre becomes label i of a label map written beside the others (`masks/<ID>.nii.gz`, the image's
geometry), a small cube, so that `subvolumes.csv` goes through the same case loader, `prepare_roi`
and box cache as every other training case: `radiomics-ssl-train` centres a box on each.
The draw depends only on the seed and the scan's place in SCANS.csv, so a rerun writes the same files.
"""
import csv
import logging
import os
import sys

import click
import numpy as np
import SimpleITK as sitk

from radiomics_ssl.cases import CaseError, read_batch_csv, read_image

logger = logging.getLogger(__name__)
MARKER_MM = 2.0  # half-side of each centre's marker cube (at least one voxel each way)
COLUMNS = ["ID", "Patient", "Cohort", "Image", "Mask", "Label"]


def draw_centres(array, spacing, value_range, count, margin_mm, spacing_mm, rng):
  """Up to `count` voxel indices (z, y, x) of `array` whose value lies in `value_range`, at least
  `margin_mm` from every face and `spacing_mm` from each other, in random order."""
  margin = np.ceil(margin_mm / np.asarray(spacing[::-1])).astype(int)  # per array axis (z, y, x)
  inner = tuple(slice(m, max(m, n - m)) for m, n in zip(margin, array.shape))
  admissible = np.zeros(array.shape, bool)
  admissible[inner] = (array[inner] >= value_range[0]) & (array[inner] <= value_range[1])
  candidates = np.flatnonzero(admissible)
  if not len(candidates):
    return np.zeros((0, 3), int)
  order = rng.permutation(len(candidates))[:max(50 * count, 1000)]  # enough tries for the spacing rule
  chosen, positions = [], np.zeros((0, 3))
  for index in np.stack(np.unravel_index(candidates[order], array.shape), axis=1):
    position = index * np.asarray(spacing[::-1])
    if len(positions) and np.min(np.linalg.norm(positions - position, axis=1)) < spacing_mm:
      continue
    chosen.append(index)
    positions = np.vstack([positions, position])
    if len(chosen) == count:
      break
  return np.array(chosen, int).reshape(-1, 3)


def marker_map(image, centres):
  """A label map in `image`'s geometry: label i + 1 is a cube of half-side MARKER_MM around centre i."""
  labels = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint16)
  half = np.maximum(1, np.round(MARKER_MM / np.asarray(image.GetSpacing()[::-1]))).astype(int)
  for label, centre in enumerate(centres, start=1):
    box = tuple(slice(max(0, c - h), c + h + 1) for c, h in zip(centre, half))
    labels[box] = label
  mask = sitk.GetImageFromArray(labels)
  mask.CopyInformation(image)
  return mask


def write_subvolumes(scans_csv, out_dir, per_scan, value_range, seed=0, margin_mm=16.0, spacing_mm=16.0):
  """Write `out_dir/masks/*.nii.gz` and `out_dir/subvolumes.csv`; returns (csv path, rows, scans that gave
  none). Unreadable images are errors naming every one of them."""
  scans, seen = [], set()
  for row in read_batch_csv(scans_csv):
    if row["Image"] not in seen:
      seen.add(row["Image"])
      scans.append(row)
  os.makedirs(os.path.join(out_dir, "masks"), exist_ok=True)
  rows, empty, bad = [], [], []
  for position, scan in enumerate(scans):
    name = scan.get("ID") or scan.get("Patient") or f"scan{position}"
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
    mask_path = os.path.abspath(os.path.join(out_dir, "masks", f"{name}.nii.gz"))
    sitk.WriteImage(marker_map(image, centres), mask_path, True)
    rows += [{"ID": f"{name}-sv{label}", "Patient": scan.get("Patient") or name, "Cohort": "subvolumes",
              "Image": os.path.abspath(scan["Image"]), "Mask": mask_path, "Label": label}
             for label in range(1, len(centres) + 1)]
  if bad:
    raise CaseError(f"{len(bad)} unreadable image(s) in {scans_csv}:\n  " + "\n  ".join(bad))
  path = os.path.join(out_dir, "subvolumes.csv")
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  return path, rows, empty


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scans_csv", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for masks/ and subvolumes.csv.")
@click.option("--per-scan", required=True, type=click.IntRange(min=1), help="Sub-volumes drawn per scan (at most).")
@click.option("--range", "value_range", required=True, type=float, nargs=2, metavar="LOW HIGH",
              help="Values a centre voxel may have, in image units (CT: HU; -950 -500 is aerated lung).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--margin", "margin_mm", default=16.0, show_default=True, type=float, help="Least distance of a centre from the scan's faces, mm.")
@click.option("--spacing", "spacing_mm", default=16.0, show_default=True, type=float, help="Least distance between two centres, mm.")
def main(scans_csv, out_dir, per_scan, value_range, seed, margin_mm, spacing_mm):
  """Draw random sub-volumes of the scans of SCANS_CSV as training cases (subvolumes.csv)."""
  logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
  if value_range[0] > value_range[1]:
    raise click.BadParameter(f"{value_range}: LOW must not exceed HIGH", param_hint="--range")
  try:
    path, rows, empty = write_subvolumes(scans_csv, out_dir, per_scan, value_range, seed, margin_mm, spacing_mm)
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
