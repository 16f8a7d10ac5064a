"""A stored encoder input/output pair for each shipped weights file (as timm stores one per model).

The input is a synthetic lesion whose intensities are rescaled into the contract's window (so a
fixed HU or SUV window sees a real range), preprocessed with the weights' contract and rounded to
uint8 (an exact, valid encoder input); the output is the encoder's 256 features for it.
Regenerate a pair only when its weights change on purpose:

  python tests/golden.py NAME [NAME ...]
"""
import sys
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).with_name("data")


def golden_file(name):
  return FOLDER / f"golden_{name}.npz"


def golden_case(contract):
  """The synthetic case's box under `contract`, as float32 (before rounding)."""
  import SimpleITK as sitk

  from radiomics_ssl.cases import crop_to_roi
  from radiomics_ssl.preprocess import prepare_roi
  from radiomics_ssl.train.synthetic import make_case

  image, mask = make_case(texture=2, centre=1, size=48, spacing=(0.8, 0.8, 2.0), rng=np.random.default_rng(2024))
  if contract.intensity == "fixed":  # the generator's values (about 40-260) onto the window
    low, high = contract.window
    image = sitk.RescaleIntensity(image, float(low), float(high))
  return prepare_roi(*crop_to_roi(image, mask), 1, contract).box


def write(name):
  from radiomics_ssl.inference import get_encoder

  encoder = get_encoder(name, "cpu")
  box = np.round(golden_case(encoder.contract)).astype(np.uint8)
  output = encoder.encode(box[None].astype(np.float32))[0]
  np.savez_compressed(golden_file(name), input=box, output=output, weights_sha256=encoder.weights.sha256)
  print(f"{golden_file(name)}: input {box.shape} uint8, output {output.shape}, weights {encoder.weights.sha256}")


if __name__ == "__main__":
  for weights_name in sys.argv[1:]:
    write(weights_name)
