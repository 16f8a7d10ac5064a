"""The opt-in: `radiomics_ssl.register()` makes a stock RadiomicsFeatureExtractor accept `ssl`."""
import subprocess
import sys

import numpy as np
import pykwalify.core
import pytest
import torch
import yaml
from pykwalify.errors import SchemaError

import radiomics
import radiomics_ssl
from radiomics.featureextractor import RadiomicsFeatureExtractor

from helpers import PARAMS

radiomics_ssl.register()  # the opt-in under test

SSL_KEYS = [f"original_ssl_{i}" for i in range(256)]


def classical(vector):
  return {k: v for k, v in vector.items() if k.startswith("original_") and "_ssl_" not in k}


def without_ssl(params_file):
  params = yaml.safe_load(open(params_file))
  params["featureClass"].pop("ssl")
  params["setting"] = {k: v for k, v in params["setting"].items() if not k.startswith("ssl")}
  return params


def test_pyradiomics_is_untouched_without_the_import():
  code = (
    "import radiomics, pykwalify.errors\n"
    "from radiomics.featureextractor import RadiomicsFeatureExtractor as E\n"
    "assert 'ssl' not in radiomics.getFeatureClasses()\n"
    "try:\n    E({'setting': {'sslWeights': 'x'}})\nexcept pykwalify.errors.SchemaError:\n    print('rejected')\n"
  )
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "rejected"


def test_stock_extractor_gives_classical_plus_ssl_and_provenance(pyradiomics_cases):
  image, mask = pyradiomics_cases["brain1"]
  vector = RadiomicsFeatureExtractor(str(PARAMS / "ssl.yaml")).execute(image, mask)
  stock = RadiomicsFeatureExtractor(without_ssl(PARAMS / "ssl.yaml")).execute(image, mask)
  assert len(classical(vector)) == 107
  assert classical(vector) == classical(stock)
  values = np.array([vector[k] for k in SSL_KEYS], dtype=float)
  assert np.isfinite(values).all() and values.std() > 0
  assert [k for k in vector if "_ssl_" in k and not k.startswith("diagnostics")] == SSL_KEYS  # numeric order
  for key in ("Weights", "WeightsSha256", "Trained", "Device", "Torch", "Contract", "Version"):
    assert f"diagnostics_ssl_{key}" in vector
  assert vector["diagnostics_ssl_Device"] == "cpu" or torch.cuda.is_available()
  keys = list(vector)
  assert keys.index("diagnostics_ssl_Weights") < keys.index("original_shape_Elongation")


@pytest.mark.parametrize("setting, error, fragment", [
  ({"sslWeigths": "ct-openkbp-siam3d"}, SchemaError, "sslWeigths"),
  ({"sslDevice": "gpu"}, SchemaError, "gpu"),
  ({"sslDevice": 3}, SchemaError, "sslDevice"),
  ({"sslImageTypes": "original"}, SchemaError, "sslImageTypes"),
  # a custom check raises like pyradiomics' own checkWavelet does
  ({"sslWeights": "no-such-weights"}, ValueError, "sslWeights 'no-such-weights': no such file"),
])
def test_bad_ssl_settings_fail_schema_validation(setting, error, fragment):
  with pytest.raises(error, match=fragment):
    RadiomicsFeatureExtractor({"featureClass": {"ssl": None}, "setting": setting})


def test_bad_ssl_keyword_override_fails_at_extraction(pyradiomics_cases):
  extractor = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml"), sslDevice="gpu")
  with pytest.raises(SchemaError, match="gpu"):
    extractor.execute(*pyradiomics_cases["brain1"])


def test_non_ssl_settings_validate_as_before():
  RadiomicsFeatureExtractor({"setting": {"binWidth": 25, "resampledPixelSpacing": [1, 1, 1]}})
  with pytest.raises(SchemaError, match="binWidth"):
    RadiomicsFeatureExtractor({"setting": {"binWidth": -1}})
  with pytest.raises(SchemaError, match="binWidht"):
    RadiomicsFeatureExtractor({"setting": {"binWidht": 25}})


@pytest.mark.parametrize("params_file", sorted(PARAMS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_params_file_validates(params_file):
  schema, funcs = radiomics.getParameterValidationFiles()
  pykwalify.core.Core(source_file=str(params_file), schema_files=[schema], extensions=[funcs]).validate()
  assert "ssl" in RadiomicsFeatureExtractor(str(params_file)).enabledFeatures


def test_filtered_image_types_skip_ssl_unless_asked(pyradiomics_cases):
  params = {"imageType": {"Original": {}, "Square": {}, "SquareRoot": {}},
            "featureClass": {"firstorder": ["Mean"], "ssl": None},
            "setting": {"label": 1}}
  vector = RadiomicsFeatureExtractor(params).execute(*pyradiomics_cases["breast1"])
  assert "square_firstorder_Mean" in vector and "original_ssl_0" in vector
  assert not any(k.startswith("square_ssl_") for k in vector)
  params["setting"]["sslImageTypes"] = ["original", "square"]
  vector = RadiomicsFeatureExtractor(params).execute(*pyradiomics_cases["breast1"])
  assert "square_ssl_255" in vector
  assert "squareroot_firstorder_Mean" in vector and not any(k.startswith("squareroot_ssl") for k in vector)
  assert vector["square_ssl_0"] != vector["original_ssl_0"]


def test_voxel_based_extraction_is_refused(pyradiomics_cases):
  extractor = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml"))
  with pytest.raises(ValueError, match="voxel-based extraction is not supported"):
    extractor.execute(*pyradiomics_cases["breast1"], voxelBased=True)


def test_cuda_request_fails_clearly_without_cuda(pyradiomics_cases):
  extractor = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml"), sslDevice="cuda")
  if torch.cuda.is_available():  # on a GPU machine the same request must work
    assert extractor.execute(*pyradiomics_cases["breast1"])["diagnostics_ssl_Device"].startswith("cuda")
  else:
    with pytest.raises(RuntimeError, match="sslDevice='cuda': CUDA was asked for but .* no CUDA device"):
      extractor.execute(*pyradiomics_cases["breast1"])


def test_a_parameter_file_for_one_modality_refuses_weights_for_another(tmp_path, pyradiomics_cases):
  """sslModality (set by params/ssl_ct.yaml, ssl_pet.yaml, ssl_mr.yaml) must match the weights' contract."""
  from helpers import make_untrained_weights, run

  pet = make_untrained_weights(tmp_path / "pet.safetensors", modality="PET", intensity="fixed", window=(0.0, 30.0))
  with pytest.raises(ValueError, match=r"sslModality 'CT' does not match .*pet.safetensors, whose contract is for PET"):
    RadiomicsFeatureExtractor({"featureClass": {"ssl": None}, "setting": {"sslWeights": pet, "sslModality": "CT"}}) \
      .execute(*pyradiomics_cases["lung1"])
  pet_on_ct = {"featureClass": {"ssl": None}, "setting": {"sslWeights": pet, "sslModality": "PET"}}
  with pytest.raises(ValueError, match=r"expect PET images, but the ROI's values look like HU .*no feature was computed"):
    RadiomicsFeatureExtractor(pet_on_ct).execute(*pyradiomics_cases["lung1"])  # the units rule, before any feature
  pet_on_ct["setting"]["sslUnitsCheck"] = False
  RadiomicsFeatureExtractor(pet_on_ct).execute(*pyradiomics_cases["lung1"])
  result = run("pyradiomicsssl", *pyradiomics_cases["lung1"], "--param", PARAMS / "ssl_ct.yaml",
               "--setting", f"sslWeights:{pet}")
  assert result.returncode == 2 and "does not match" in result.stderr and "pet.safetensors" in result.stderr
