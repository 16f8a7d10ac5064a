"""The stored encoder input/output pair for the shipped weights (as timm stores one per model).

The input is a synthetic lesion, preprocessed with the weights' contract and rounded to
uint8 (an exact, valid encoder input); the output is the encoder's 256 features for it.
Regenerate only when the shipped weights change on purpose:

  python tests/golden.py
"""
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("data") / "golden_encoder.npz"


def golden_case(contract):
  """The synthetic case's box under `contract`, as float32 (before rounding)."""
  from radiomics_ssl.cases import crop_to_roi
  from radiomics_ssl.preprocess import prepare_roi
  from radiomics_ssl.train.synthetic import make_case

  image, mask = make_case(texture=2, centre=1, size=48, spacing=(0.8, 0.8, 2.0), rng=np.random.default_rng(2024))
  return prepare_roi(*crop_to_roi(image, mask), 1, contract).box


if __name__ == "__main__":
  from radiomics_ssl.inference import get_encoder
  from radiomics_ssl.config import DEFAULT_WEIGHTS

  encoder = get_encoder(DEFAULT_WEIGHTS, "cpu")
  box = np.round(golden_case(encoder.weights.contract)).astype(np.uint8)
  output = encoder.encode(box[None].astype(np.float32))[0]
  GOLDEN.parent.mkdir(exist_ok=True)
  np.savez_compressed(GOLDEN, input=box, output=output, weights_sha256=encoder.weights.sha256)
  print(f"{GOLDEN}: input {box.shape} uint8, output {output.shape}, weights {encoder.weights.sha256}")
