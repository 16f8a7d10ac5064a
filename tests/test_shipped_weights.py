"""The default weights: pinned identity, honest metadata, a stored golden pair, and no collapse."""
import numpy as np
import pytest

from golden import golden_case, golden_file
from radiomics_ssl import weights as weights_io
from radiomics_ssl.config import DEFAULT_WEIGHTS
from radiomics_ssl.inference import CROSS_MACHINE_TOLERANCE, get_encoder

SHIPPED = DEFAULT_WEIGHTS
SHA256 = "67d513cce665551f360bd3afaadadc27b9d81dad2b204a428bd86fdce236ab7c"
CONTRACT = {"box": 48, "spacing_mm": 2.0, "large_roi": "resize", "intensity": "percentile", "window": [0.5, 99.5],
            "mask_background": False}


@pytest.fixture(scope="module")
def shipped():
  return weights_io.load(SHIPPED)


def test_default_weights_are_shipped_with_the_package():
  assert SHIPPED in weights_io.shipped_names()


def test_identity_and_metadata_are_pinned(shipped):
  assert shipped.sha256 == SHA256, "the shipped weights changed: update SHA256, the golden pair and the model card"
  meta = shipped.metadata
  assert meta["trained"] is True and meta["contract"] == CONTRACT
  training = meta["training"]
  assert training["command"].startswith("radiomics-ssl-train ")
  assert training["data"]["n_cases"] == 107 and len(training["data"]["cases_sha256"]) == 64
  assert training["config"]["balance"] == "re" and training["iterations"] == training["config"]["iterations"] == 300


def test_golden_input_output_pair():
  stored = np.load(golden_file(SHIPPED))
  encoder = get_encoder(SHIPPED, "cpu")
  assert str(stored["weights_sha256"]) == encoder.weights.sha256
  output = encoder.encode(stored["input"][None].astype(np.float32))[0]
  np.testing.assert_allclose(output, stored["output"], rtol=0, atol=CROSS_MACHINE_TOLERANCE * np.abs(stored["output"]).max())


def test_preprocessing_still_produces_the_golden_input():
  box = golden_case(weights_io.load(SHIPPED).contract)
  np.testing.assert_allclose(box, np.load(golden_file(SHIPPED))["input"].astype(np.float32), atol=0.5 + 1e-3)


def test_features_are_not_collapsed_on_the_shared_cases(shared_data):
  """More than 90% of the 256 dimensions vary across the shared cases; effective rank above 10."""
  from radiomics_ssl.datasets import cohort_rows
  from radiomics_ssl.cases import crop_to_roi, load_case
  from radiomics_ssl.diversity import feature_diversity
  from radiomics_ssl.preprocess import prepare_roi

  encoder = get_encoder(SHIPPED, "cpu")
  boxes = [prepare_roi(*crop_to_roi(*load_case(r["Image"], r["Mask"])), 1, encoder.weights.contract).box
           for cohort in ("sts-mr", "sts-pet", "pyradiomics") for r in cohort_rows(shared_data, cohort)]
  features = np.vstack([encoder.encode(np.stack(boxes[i:i + 16])) for i in range(0, len(boxes), 16)])
  assert features.shape == (107, 256) and np.isfinite(features).all()
  varying_share, effective_rank = feature_diversity(features)
  assert varying_share > 0.9 and effective_rank > 10, (varying_share, effective_rank)
