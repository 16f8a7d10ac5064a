"""Write one synthetic CT-like case in Hounsfield units (image.nii.gz, mask.nii.gz) for the README demo:
a textured soft-tissue lesion (about 40-120 HU) in soft tissue (about -20 HU), stored as int16 like
a real CT, so that the default (CT) weights see what they were trained for.

  python examples/make_sample.py sample/
"""
import os
import sys

import numpy as np
import SimpleITK as sitk

from radiomics_ssl.train.synthetic import make_case

if __name__ == "__main__":
  out_dir = sys.argv[1] if len(sys.argv) > 1 else "sample"
  os.makedirs(out_dir, exist_ok=True)
  image, mask = make_case(texture=1, centre=0, size=64, spacing=(0.9, 0.9, 2.5), rng=np.random.default_rng(7))
  hounsfield = sitk.Cast(sitk.Round(image - 120.0), sitk.sitkInt16)  # the generator's 100 +- 8 background -> about -20 HU
  sitk.WriteImage(hounsfield, os.path.join(out_dir, "image.nii.gz"))
  sitk.WriteImage(mask, os.path.join(out_dir, "mask.nii.gz"))
  print(os.path.join(out_dir, "image.nii.gz"), os.path.join(out_dir, "mask.nii.gz"))
