"""The reconstruction target beside 3DSiam (PREREGISTRATION-3.md, B3), on real LIDC nodule boxes."""
import json

import numpy as np
import pytest
import torch

from radiomics_ssl import weights as weights_io
from radiomics_ssl.config import Contract, TrainConfig
from radiomics_ssl.datasets import lidc_rows, write_batch_csv
from radiomics_ssl.model import Encoder3d
from radiomics_ssl.train import loop
from radiomics_ssl.train.augment import region_size
from radiomics_ssl.train.data import load_training_boxes
from radiomics_ssl.train.reconstruction import TARGET_SIZE, Decoder3d, reconstruction_loss, reconstruction_target

LUNG = Contract.for_modality("CT", box=16, spacing_mm=2.0, window=(-1000.0, 400.0))  # a small A1-like lung contract


@pytest.fixture(scope="module")
def nodules(shared_data, tmp_path_factory):
  """Region boxes of the first 12 LIDC dev nodules under the small lung contract."""
  folder = tmp_path_factory.mktemp("lidc")
  write_batch_csv(folder / "nodules.csv", lidc_rows(shared_data)[:12])
  size = region_size(LUNG.box, TrainConfig().augment.context)
  return load_training_boxes(folder / "nodules.csv", LUNG, str(folder / "cache"), size=size)


def test_target_is_the_view_in_unit_range_pooled_to_16():
  view = torch.full((2, 1, 32, 32, 32), 255.0)
  view[:, :, :16] = 0.0  # top half air, bottom half bright
  target = reconstruction_target(view)
  assert target.shape == (2, 1, TARGET_SIZE, TARGET_SIZE, TARGET_SIZE)
  assert torch.all(target[:, :, :8] == 0) and torch.all(target[:, :, 8:] == 1)


def test_loss_is_zero_for_the_standardised_target_and_about_one_for_the_batch_mean():
  view = torch.rand(4, 1, 32, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
  target = reconstruction_target(view)
  mean, sd = target.mean(), target.std()
  assert reconstruction_loss((target - mean) / sd, view).item() == pytest.approx(0.0, abs=1e-7)
  n = target.numel()
  assert reconstruction_loss(torch.zeros_like(target), view).item() == pytest.approx((n - 1) / n, rel=1e-4)
  dim = 0.1 * view  # a tenth of the contrast: the same standardised target, the same score
  assert reconstruction_loss(torch.zeros_like(target), dim).item() == pytest.approx((n - 1) / n, rel=1e-4)


def test_decoder_draws_a_16_cube_from_the_features_whatever_the_box():
  decoder = Decoder3d(256)
  for box in (16, 32):
    features = Encoder3d()(torch.rand(3, 1, box, box, box) * 255)
    assert decoder(features).shape == (3, 1, TARGET_SIZE, TARGET_SIZE, TARGET_SIZE)


def test_the_term_trains_and_only_the_encoder_is_exported(nodules, tmp_path):
  """On real nodule boxes the reconstruction term falls (medians: it starts near 1, the batch mean's score), the logged loss is the sum of its terms, and
  the weights file holds the encoder alone (extraction needs no decoder)."""
  boxes, summary = nodules
  config = TrainConfig(contract=LUNG, iterations=60, batch_size=6, lr=0.02, variance_weight=1.0,
                       covariance_weight=0.04, reconstruction_weight=1.0, rank_every=100, export="last", device="cpu")
  trainer = loop.Trainer(config, boxes, str(tmp_path), summary)
  assert any(name.startswith("decoder.") for name in trainer.model.state_dict())
  weights_file = trainer.run()
  records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert len(records) == 60
  for record in records:
    assert record["loss"] == pytest.approx(record["siam_loss"] + record["variance_term"] + 0.04 * record["covariance_term"]
                                           + record["reconstruction_term"], rel=1e-5, abs=1e-6)
  term = [r["reconstruction_term"] for r in records]  # noisy per batch: 2 of the 12 boxes hold most of the contrast
  assert np.median(term[-20:]) < 0.8 * np.median(term[:10]), term
  loaded = weights_io.load(weights_file)
  assert set(loaded.tensors) == set(Encoder3d().state_dict())
  assert loaded.metadata["training"]["config"]["reconstruction_weight"] == 1.0
  weights_io.build_encoder(loaded)  # loads strictly: the architecture's tensors, nothing more


@pytest.mark.parametrize("fields, problem", [({"reconstruction_weight": -1.0}, "reconstruction_weight"),
                                             ({"reconstruction_weight": 1.0, "method": "rubik"}, "must be siam3d")])
def test_bad_reconstruction_settings_are_refused(fields, problem):
  from radiomics_ssl.train import methods

  with pytest.raises(ValueError, match=problem):
    methods.check(TrainConfig.from_dict(fields))
