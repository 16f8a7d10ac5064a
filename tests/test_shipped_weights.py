"""The shipped weights: pinned identity, honest metadata, a stored golden pair each, and no collapse."""
import json
from dataclasses import asdict, dataclass

import numpy as np
import pytest
import yaml

from golden import golden_case, golden_file
from helpers import PARAMS
from radiomics_ssl import weights as weights_io
from radiomics_ssl.config import DEFAULT_WEIGHTS, Contract
from radiomics_ssl.datasets import cohort_rows, openkbp_rows
from radiomics_ssl.inference import CROSS_MACHINE_TOLERANCE, get_encoder


@dataclass(frozen=True)
class Pinned:
  sha256: str
  modality: str
  n_cases: int          # ROIs the trainer used
  params: str | None    # the parameter file that selects it (None: superseded, kept so that earlier studies reproduce)
  cases: object         # shared data folder -> batch rows for the collapse check
  min_rank: float       # half the random-init encoder's effective rank on those cases (measured)
  contract: dict = None  # its contract, when not the modality's default (Contract.for_modality)
  trained: bool = True  # False: an honestly untrained encoder, shipped for its contract


def held_out_ct(data):  # PTV70s of OpenKBP test-split patients, which CT pretraining never saw
  return openkbp_rows(data, ("test",), ("ptv70",))[:40]


SHIPPED = {
  "ct-openkbp-siam3d": Pinned("80695b2634a4e726172af2b5173cc4ec897119d8b4535bdfbd0fae93931a4b36", "CT", 1281,
                              "ssl_ct.yaml", held_out_ct, 13.9),
  "pet-sts-siam3d": Pinned("93ef5be319a7e38a82af698a9fdf2bf0f4797aa3cc7b7148a70724b388a32f1f", "PET", 51,
                           "ssl_pet.yaml", lambda data: cohort_rows(data, "sts-pet"), 7.6),
  "mr-sts-siam3d": Pinned("d9c7a43565a3c2d8c022113cde34fb49e3d15cc542373d35abe0f56a2890697c", "MR", 54,
                          None, lambda data: cohort_rows(data, "sts-mr"), 17.4),
  "mr-sts-cube-siam3d": Pinned("a320e3dc9eb6803c766d21bb041277212e0c5ce470591bce55d372ea79feca7b", "MR", 54,
                               "ssl_mr.yaml", lambda data: cohort_rows(data, "sts-mr"), 15.5,
                               contract={"window_region": "cube"}),
  "ct-lung-untrained": Pinned("cbe4eb4cea6366bbad66232b0154621d5012b3fb85cdef6c5cd131bd85b27ff9", "CT", 596,
                              "ssl_ct_lung.yaml", lambda data: cohort_rows(data, "lidc")[:40], 7.4,
                              contract={"spacing_mm": 1.0, "window": (-1000.0, 400.0)}, trained=False),
}


def test_every_shipped_file_is_pinned_and_the_default_is_the_ct_file():
  assert set(weights_io.shipped_names()) == set(SHIPPED)
  assert DEFAULT_WEIGHTS == "ct-openkbp-siam3d"


@pytest.mark.parametrize("name", SHIPPED)
def test_identity_contract_and_metadata_are_pinned(name):
  pinned, loaded = SHIPPED[name], weights_io.load(name)
  assert loaded.sha256 == pinned.sha256, f"{name} changed: update its sha256, golden pair and model card"
  meta = loaded.metadata
  assert meta["trained"] is pinned.trained
  contract = Contract.for_modality(pinned.modality, **(pinned.contract or {}))
  assert meta["contract"] == json.loads(json.dumps(asdict(contract)))
  training = meta["training"]
  assert training["command"].startswith("radiomics-ssl-train ") and training["config"]["contract"]["modality"] == pinned.modality
  assert training["data"]["n_cases"] == pinned.n_cases and len(training["data"]["cases_sha256"]) == 64
  assert training["config"]["balance"] == "none" and training["config"]["optimizer"] == "sgd"
  if pinned.trained:
    assert training["rank_last"] >= 0.5 * training["rank_untrained"]
  else:
    assert training["method"] == "random"


@pytest.mark.parametrize("name", [name for name, pinned in SHIPPED.items() if pinned.params])
def test_its_parameter_file_selects_it_for_its_modality(name):
  setting = yaml.safe_load(open(PARAMS / SHIPPED[name].params))["setting"]
  assert (setting["sslWeights"], setting["sslModality"]) == (name, SHIPPED[name].modality)


@pytest.mark.parametrize("name", SHIPPED)
def test_golden_input_output_pair(name):
  stored = np.load(golden_file(name))
  encoder = get_encoder(name, "cpu")
  assert str(stored["weights_sha256"]) == encoder.weights.sha256
  output = encoder.encode(stored["input"][None].astype(np.float32))[0]
  np.testing.assert_allclose(output, stored["output"], rtol=0, atol=CROSS_MACHINE_TOLERANCE * np.abs(stored["output"]).max())


@pytest.mark.parametrize("name", SHIPPED)
def test_preprocessing_still_produces_the_golden_input(name):
  box = golden_case(weights_io.load(name).contract)
  np.testing.assert_allclose(box, np.load(golden_file(name))["input"].astype(np.float32), atol=0.5 + 1e-3)


@pytest.mark.parametrize("name", SHIPPED)
def test_features_are_not_collapsed_on_real_cases_of_its_modality(name, shared_data):
  """Most dimensions vary, and the effective rank is at least half the random-init encoder's
  (measured on the same cases and contract, model cards in weights/README.md)."""
  from radiomics_ssl.cases import case_label, crop_to_roi, load_case
  from radiomics_ssl.diversity import feature_diversity
  from radiomics_ssl.preprocess import prepare_roi

  encoder = get_encoder(name, "cpu")
  prepared = []
  for row in SHIPPED[name].cases(shared_data):
    label = case_label(row)
    image, mask = crop_to_roi(*load_case(row["Image"], row["Mask"], label), label)
    prepared.append(prepare_roi(image, mask, label, encoder.contract))
  features = np.vstack(encoder.encode_rois(prepared))
  assert np.isfinite(features).all()
  varying_share, effective_rank = feature_diversity(features)
  assert varying_share > 0.9 and effective_rank >= SHIPPED[name].min_rank, (varying_share, effective_rank)


def test_a_ct_parameter_file_with_the_pet_weights_is_refused_before_any_case(shared_data, tmp_path):
  from helpers import run

  image, mask = shared_data / "pyradiomics" / "lung1_image.nrrd", shared_data / "pyradiomics" / "lung1_label.nrrd"
  result = run("pyradiomicsssl", image, mask, "--param", PARAMS / "ssl_ct.yaml", "--setting", "sslWeights:pet-sts-siam3d")
  assert result.returncode == 2 and "sslModality 'CT' does not match" in result.stderr and "PET" in result.stderr
