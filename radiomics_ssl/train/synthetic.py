"""A synthetic cohort for tests and demos: lesions in texture classes at a chosen imbalance,
acquired at "centres" with their own intensity and noise, mimicking BraTS' label and centre
imbalance (Table 1). Written as NIfTI pairs plus a pyradiomics batch CSV.

  python -m radiomics_ssl.train.synthetic OUT_DIR --cases 24 --ratio 3:1 --size 40
"""
import csv
import os

import click
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

TEXTURES = ("smooth", "speckled", "ringed")
CENTRES = ({"gain": 1.0, "offset": 100.0, "noise": 4.0},
           {"gain": 1.4, "offset": 40.0, "noise": 10.0},
           {"gain": 0.8, "offset": 160.0, "noise": 6.0})


def make_case(texture, centre, size, spacing, rng):
  """One (image, mask) pair of SimpleITK images; `texture` indexes TEXTURES, `centre` CENTRES."""
  shape = (max(8, size // 2), size, size)  # (z, y, x), anisotropic like clinical scans
  grid = np.indices(shape).astype(np.float64)
  centre_voxel = np.array(shape) / 2 + rng.uniform(-2, 2, 3)
  radii = rng.uniform(0.22, 0.36, 3) * np.array(shape)
  inside = (((grid - centre_voxel[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0) <= 1
  background = ndimage.gaussian_filter(rng.normal(0, 1, shape), 3) * 8
  if TEXTURES[texture] == "smooth":
    lesion = 60 + ndimage.gaussian_filter(rng.normal(0, 1, shape), 4) * 40
  elif TEXTURES[texture] == "speckled":
    lesion = 60 + (rng.random(shape) < 0.08) * 80.0 + ndimage.gaussian_filter(rng.normal(0, 1, shape), 1) * 10
  else:
    distance = np.sqrt((((grid - centre_voxel[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0))
    lesion = 60 + 50 * np.cos(distance * 3 * np.pi)
  site = CENTRES[centre]
  values = site["offset"] + site["gain"] * np.where(inside, lesion, background) + rng.normal(0, site["noise"], shape)
  image = sitk.GetImageFromArray(values.astype(np.float32))
  mask = sitk.GetImageFromArray(inside.astype(np.uint8))
  for item in (image, mask):
    item.SetSpacing(tuple(float(s) for s in spacing))
  return image, mask


def make_cohort(out_dir, n_cases=24, ratio=(3, 1), centre_ratio=(3, 1), size=40, spacing=(1.0, 1.0, 2.0), seed=0):
  """Write n_cases NIfTI pairs and `cases.csv` (ID, Image, Mask, texture, centre); returns the CSV path."""
  rng = np.random.default_rng(seed)
  os.makedirs(out_dir, exist_ok=True)
  textures = np.repeat(np.arange(len(ratio)), _shares(n_cases, ratio))
  centres = np.repeat(np.arange(len(centre_ratio)), _shares(n_cases, centre_ratio))
  rng.shuffle(centres)
  rows = []
  for index, (texture, centre) in enumerate(zip(textures, centres)):
    image, mask = make_case(int(texture), int(centre), size, spacing, rng)
    case_id = f"case_{index:03d}"
    paths = {"Image": f"{case_id}_image.nii.gz", "Mask": f"{case_id}_mask.nii.gz"}
    sitk.WriteImage(image, os.path.join(out_dir, paths["Image"]))
    sitk.WriteImage(mask, os.path.join(out_dir, paths["Mask"]))
    rows.append({"ID": case_id, **paths, "texture": int(texture), "centre": int(centre)})
  csv_path = os.path.join(out_dir, "cases.csv")
  with open(csv_path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, ["ID", "Image", "Mask", "texture", "centre"])
    writer.writeheader()
    writer.writerows(rows)
  return csv_path


def _shares(total, ratio):
  counts = np.floor(np.array(ratio) / sum(ratio) * total).astype(int)
  counts[0] += total - counts.sum()
  return counts


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--cases", default=24, show_default=True, type=int)
@click.option("--ratio", default="3:1", show_default=True, help="Texture class ratio, e.g. 3:1 or 6:3:1.")
@click.option("--size", default=40, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
def main(out_dir, cases, ratio, size, seed):
  """Write a synthetic cohort of textured ROIs (a batch CSV and its images) under OUT_DIR."""
  classes = tuple(int(v) for v in ratio.split(":"))
  if len(classes) > len(TEXTURES):
    raise click.BadParameter(f"at most {len(TEXTURES)} classes", param_hint="--ratio")
  click.echo(make_cohort(out_dir, cases, classes, size=size, seed=seed))


if __name__ == "__main__":
  main()
