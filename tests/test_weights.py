import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from safetensors import safe_open

from radiomics_ssl import weights
from radiomics_ssl.weights import WeightsError


def rewrite(path, out, tensors=None, metadata=None, rehash=False):
  """Write a modified copy of a weights file; `rehash` recomputes a valid sha256."""
  with safe_open(path, framework="numpy") as handle:
    meta = json.loads(handle.metadata()["radiomics_ssl"])
  tensors = tensors if tensors is not None else load_file(path)
  meta = metadata if metadata is not None else meta
  if rehash:
    meta["sha256"] = weights.content_sha256(meta, tensors)
  save_file(tensors, str(out), metadata={"radiomics_ssl": json.dumps(meta)})
  return str(out)


def test_round_trip_keeps_tensors_metadata_and_hash(untrained_weights):
  loaded = weights.load(untrained_weights)
  assert loaded.metadata["trained"] is False
  assert loaded.contract.box == 16
  assert len(loaded.sha256) == 64
  encoder = weights.build_encoder(loaded)
  torch.manual_seed(0)
  from radiomics_ssl.model import Encoder3d
  reference = Encoder3d().state_dict()
  for name, value in encoder.state_dict().items():
    torch.testing.assert_close(value, reference[name], rtol=0, atol=0)


def test_file_is_plain_safetensors_with_nothing_else(untrained_weights):
  """8-byte header length, a JSON header, then exactly the raw tensor bytes: nothing to unpickle."""
  data = open(untrained_weights, "rb").read()
  header_size = int.from_bytes(data[:8], "little")
  header = json.loads(data[8:8 + header_size])
  assert json.loads(header.pop("__metadata__")["radiomics_ssl"])["format"] == weights.FORMAT
  ends = [entry["data_offsets"][1] for entry in header.values()]
  assert len(data) == 8 + header_size + max(ends)
  assert {entry["dtype"] for entry in header.values()} <= {"F32", "I64"}


def test_tampered_tensor_fails_sha256(untrained_weights, tmp_path):
  tensors = load_file(untrained_weights)
  name = sorted(tensors)[0]
  tensors[name] = tensors[name] + np.float32(1e-3)
  path = rewrite(untrained_weights, tmp_path / "tampered.safetensors", tensors=tensors)
  with pytest.raises(WeightsError, match="tampered.safetensors: sha256 mismatch"):
    weights.load(path)


def test_tampered_metadata_fails_sha256(untrained_weights, tmp_path):
  meta = weights.load(untrained_weights).metadata
  meta["contract"]["box"] = 96
  path = rewrite(untrained_weights, tmp_path / "edited.safetensors", metadata=meta)
  with pytest.raises(WeightsError, match="sha256 mismatch"):
    weights.load(path)


def test_corrupt_and_foreign_files_are_refused(untrained_weights, tmp_path):
  truncated = tmp_path / "truncated.safetensors"
  truncated.write_bytes(open(untrained_weights, "rb").read()[:5000])
  with pytest.raises(WeightsError, match="truncated.safetensors: not a readable"):
    weights.load(str(truncated))
  foreign = tmp_path / "foreign.safetensors"
  save_file({"w": np.zeros(3, np.float32)}, str(foreign))
  with pytest.raises(WeightsError, match="foreign.safetensors: no radiomics_ssl metadata"):
    weights.load(str(foreign))
  pickled = tmp_path / "model.pt"
  torch.save({"w": torch.zeros(3)}, pickled)
  with pytest.raises(WeightsError, match="model.pt: not a readable"):
    weights.load(str(pickled))


def test_wrong_architecture_is_refused(untrained_weights, tmp_path):
  meta = weights.load(untrained_weights).metadata
  meta["architecture"] = "resnet50"
  path = rewrite(untrained_weights, tmp_path / "arch.safetensors", metadata=meta, rehash=True)
  with pytest.raises(WeightsError, match="arch.safetensors: cannot build the architecture.*resnet50"):
    weights.build_encoder(weights.load(path))


def test_missing_and_unexpected_keys_are_listed(untrained_weights, tmp_path):
  tensors = load_file(untrained_weights)
  tensors["extra.weight"] = tensors.pop("head.3.weight")
  path = rewrite(untrained_weights, tmp_path / "keys.safetensors", tensors=tensors, rehash=True)
  with pytest.raises(WeightsError, match=r"missing \['head.3.weight'\], unexpected \['extra.weight'\]"):
    weights.build_encoder(weights.load(path))


def test_unknown_name_lists_shipped_weights():
  with pytest.raises(WeightsError, match="no-such-weights.*shipped"):
    weights.resolve("no-such-weights")


def test_atomic_save_leaves_no_temporary_files(untrained_weights, tmp_path):
  target = tmp_path / "copy.safetensors"
  shutil.copy(untrained_weights, target)
  loaded = weights.load(str(target))
  weights.save(str(target), weights.build_encoder(loaded).state_dict(),
               {k: v for k, v in loaded.metadata.items() if k not in ("sha256", "format", "version")})
  assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.safetensors"]
  assert weights.load(str(target)).sha256 == loaded.sha256


def test_a_contract_and_an_encoder_that_disagree_on_the_input_are_refused(tmp_path):
  from dataclasses import asdict

  from radiomics_ssl.config import Contract
  from radiomics_ssl.model import ARCHITECTURE, Encoder3d

  encoder = Encoder3d()  # one input channel, under a contract that feeds two
  metadata = {"architecture": ARCHITECTURE, "arguments": encoder.arguments, "feature_dim": 256, "trained": False,
              "contract": asdict(Contract(box=16, context="cube", roi_channel=True)), "training": None, "license": "test"}
  weights.save(str(tmp_path / "two.safetensors"), encoder.state_dict(), metadata)
  with pytest.raises(weights.WeightsError, match="1 channel"):
    weights.build_encoder(weights.load(str(tmp_path / "two.safetensors")))
