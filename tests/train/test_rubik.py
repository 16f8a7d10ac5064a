"""The Rubik's cube pretext: permutation classes, puzzles that can be undone, exportable weights."""
import itertools

import numpy as np
import pytest
import torch

from radiomics_ssl import weights as weights_io
from radiomics_ssl.config import Contract, TrainConfig
from radiomics_ssl.train import rubik
from radiomics_ssl.train.loop import Trainer


def test_permutation_set_is_distinct_spread_out_and_holds_the_identity():
  permutations = rubik.permutation_set(24, torch.Generator().manual_seed(0))
  assert permutations.shape == (24, 8)
  assert torch.equal(permutations[0], torch.arange(8))
  assert all(sorted(p.tolist()) == list(range(8)) for p in permutations)
  hamming = (permutations[:, None] != permutations[None]).sum(-1)
  assert int(hamming[~torch.eye(24, dtype=torch.bool)].min()) >= 4


def test_puzzle_cubes_are_the_permuted_and_rotated_sub_cubes():
  x = torch.randn(3, 1, 8, 10, 12)
  permutations = rubik.permutation_set(10, torch.Generator().manual_seed(1))
  drawn = rubik.draw_puzzles(3, len(permutations), torch.Generator().manual_seed(2))
  cubes, labels, rotations = rubik.make_puzzle(x, permutations, *drawn)
  assert cubes.shape == (24, 1, 4, 5, 6) and rotations.shape == (3, 16)
  assert rotations.sum() > 0 and labels.unique().numel() >= 1
  originals = [x[:, :, i:i + 4, j:j + 5, k:k + 6] for i, j, k in itertools.product((0, 4), (0, 5), (0, 6))]
  cubes = cubes.reshape(3, 8, 1, 4, 5, 6)
  for b in range(3):
    for position in range(8):
      expected = originals[int(permutations[labels[b], position])][b]
      bits = rotations[b].reshape(8, 2)[position]
      for axis, dims in enumerate(rubik.ROTATION_DIMS):
        if bits[axis]:
          expected = expected.flip([d - 1 for d in dims])  # (1, D, H, W) without the batch axis
      assert torch.equal(cubes[b, position], expected)


def test_rubik_training_exports_an_encoder_in_the_shared_weights_format(tmp_path):
  boxes = np.random.default_rng(0).uniform(0, 255, (12, 24, 24, 24)).astype(np.float32)  # regions of 1.5 boxes
  config = TrainConfig(contract=Contract(box=16), method="rubik", iterations=3, lr=1e-3, device="cpu")
  path = Trainer(config, boxes, str(tmp_path), data_summary={}).run()
  loaded = weights_io.load(path)
  assert loaded.metadata["training"]["method"] == "rubik" and loaded.metadata["trained"] is True
  encoder = weights_io.build_encoder(loaded)  # strict: only the encoder's tensors, nothing of the heads
  assert encoder(torch.rand(2, 1, 16, 16, 16) * 255).shape == (2, 256)
  records = [line for line in open(tmp_path / "metrics.jsonl")]
  assert len(records) == 3 and "permutation_accuracy" in records[-1]


def test_the_method_registry_is_keyed_by_name_and_each_method_checks_its_own_settings():
  from radiomics_ssl import config
  from radiomics_ssl.train import methods

  assert {name: method.name for name, method in methods.METHODS.items()} == {name: name for name in config.METHODS}
  with pytest.raises(ValueError, match="balance='re' must be none with method rubik"):
    methods.check(TrainConfig(contract=Contract(box=16), method="rubik", balance="re"))
  with pytest.raises(ValueError, match="contract.box=15 must be even with method rubik"):
    methods.check(TrainConfig(contract=Contract(box=15), method="rubik"))
  methods.check(TrainConfig(contract=Contract(box=16), method="siam3d", balance="re", variance_weight=1.0))
