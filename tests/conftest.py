"""Fixtures: the real cases in ../shared/data, tiny weights and a tiny synthetic cohort."""
import pytest

from helpers import make_untrained_weights, shared_data_dir, PYRADIOMICS_CASES


@pytest.fixture(scope="session")
def shared_data():
  return shared_data_dir()


@pytest.fixture(scope="session")
def pyradiomics_cases(shared_data):
  """{name: (image path, mask path)} for the five pyradiomics test cases."""
  folder = shared_data / "pyradiomics"
  return {name: (str(folder / f"{name}_image.nrrd"), str(folder / f"{name}_label.nrrd")) for name in PYRADIOMICS_CASES}


@pytest.fixture(scope="session")
def synthetic_cohort(tmp_path_factory):
  """12 small synthetic cases (3:1 texture imbalance, two centres); returns the batch CSV path."""
  from radiomics_ssl.train.synthetic import make_cohort

  return make_cohort(str(tmp_path_factory.mktemp("cohort")), n_cases=12, ratio=(3, 1), size=24, seed=0)


@pytest.fixture(scope="session")
def untrained_weights(tmp_path_factory):
  """A 16^3-contract weights file of a randomly initialised encoder (trained: false)."""
  return make_untrained_weights(tmp_path_factory.mktemp("weights") / "untrained.safetensors")
