"""The weights file: safetensors tensors plus JSON metadata, verified by sha256 on every load.

No pickle is involved. The metadata carries the architecture and its arguments, the
preprocessing contract, how the file was produced, the licence and the package version. The
`sha256` entry covers the metadata and every tensor, so a changed byte anywhere is caught.
"""
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from radiomics_ssl import __version__
from radiomics_ssl.config import Contract

FORMAT = "radiomics_ssl.weights/1"
SUFFIX = ".safetensors"


class WeightsError(ValueError):
  """A weights file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Weights:
  path: str
  metadata: dict
  tensors: dict  # name -> numpy array

  @property
  def sha256(self):
    return self.metadata["sha256"]

  @property
  def contract(self):
    return Contract(**self.metadata["contract"])

  @property
  def name(self):
    return Path(self.path).name[: -len(SUFFIX)] if self.path.endswith(SUFFIX) else Path(self.path).name


def shipped_dir():
  """Folder of the weights installed with the package (the repository's weights/)."""
  try:
    return Path(str(resources.files("radiomics_ssl.shipped_weights")))
  except ModuleNotFoundError:  # running from a source checkout without installing
    return Path(__file__).resolve().parents[1] / "weights"


def shipped_names():
  return sorted(p.name[: -len(SUFFIX)] for p in shipped_dir().glob("*" + SUFFIX))


def resolve(name_or_path):
  """A shipped weights name or a path -> an existing file path."""
  candidate = shipped_dir() / f"{name_or_path}{SUFFIX}"
  if candidate.is_file():
    return str(candidate)
  if os.path.isfile(name_or_path):
    return os.path.abspath(name_or_path)
  raise WeightsError(f"sslWeights {name_or_path!r}: no such file and no shipped weights of that name "
                     f"(shipped: {shipped_names()})")


def content_sha256(metadata, tensors):
  """sha256 over canonical metadata JSON (without 'sha256') and every tensor's name, dtype, shape and bytes."""
  digest = hashlib.sha256()
  body = {k: v for k, v in metadata.items() if k != "sha256"}
  digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
  for name in sorted(tensors):
    array = np.ascontiguousarray(tensors[name])
    digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def save(path, state_dict, metadata):
  """Write encoder tensors and metadata atomically; returns the sha256 stored in the file."""
  from safetensors.numpy import save_file

  tensors = {name: value.detach().cpu().contiguous().numpy() for name, value in state_dict.items()}
  metadata = dict(metadata, format=FORMAT, version=__version__)
  metadata["sha256"] = content_sha256(metadata, tensors)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  handle, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
  os.close(handle)
  try:
    save_file(tensors, tmp, metadata={"radiomics_ssl": json.dumps(metadata, sort_keys=True)})
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return metadata["sha256"]


def read_header(path):
  """The metadata dict of a weights file, from its header only (cheap); raises WeightsError."""
  from safetensors import SafetensorError, safe_open

  try:
    with safe_open(path, framework="numpy") as handle:
      header = handle.metadata() or {}
  except (SafetensorError, OSError, ValueError) as error:
    raise WeightsError(f"{path}: not a readable safetensors weights file ({error})") from None
  if "radiomics_ssl" not in header:
    raise WeightsError(f"{path}: no radiomics_ssl metadata; not a radiomics_ssl weights file")
  try:
    return json.loads(header["radiomics_ssl"])
  except json.JSONDecodeError as error:
    raise WeightsError(f"{path}: metadata is not valid JSON ({error})") from None


def load(name_or_path):
  """Resolve, read and verify a weights file -> Weights. Raises WeightsError naming the file on any
  problem. Verified once per process and file version (path, size, modification time), so callers
  may ask for every case."""
  path = resolve(name_or_path)
  stat = os.stat(path)
  return _load_verified(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _load_verified(path, size, mtime_ns):
  from safetensors import SafetensorError
  from safetensors.numpy import load_file

  metadata = read_header(path)
  try:
    tensors = load_file(path)
  except (SafetensorError, OSError, ValueError) as error:
    raise WeightsError(f"{path}: not a readable safetensors weights file ({error})") from None
  if metadata.get("format") != FORMAT:
    raise WeightsError(f"{path}: format {metadata.get('format')!r} is not {FORMAT!r}")
  expected = metadata.get("sha256")
  actual = content_sha256(metadata, tensors)
  if expected != actual:
    raise WeightsError(f"{path}: sha256 mismatch (metadata says {expected}, content is {actual}); "
                       "the file was modified or corrupted")
  try:
    Contract(**metadata["contract"])
  except (KeyError, TypeError, ValueError) as error:
    raise WeightsError(f"{path}: invalid preprocessing contract ({error})") from None
  return Weights(path=path, metadata=metadata, tensors=tensors)


def build_encoder(weights):
  """The encoder described by the metadata, with its tensors loaded strictly."""
  import torch

  from radiomics_ssl.model import build_encoder as build

  try:
    encoder = build(weights.metadata["architecture"], weights.metadata["arguments"])
  except (KeyError, TypeError, ValueError) as error:
    raise WeightsError(f"{weights.path}: cannot build the architecture ({error})") from None
  contract = weights.contract
  if (encoder.arguments["in_channels"], encoder.pooling) != (contract.channels, contract.pooling):
    raise WeightsError(f"{weights.path}: the encoder takes {encoder.arguments['in_channels']} channel(s) with "
                       f"{encoder.pooling} pooling, its contract {contract.channels} with {contract.pooling} pooling")
  expected = encoder.state_dict()
  missing = sorted(set(expected) - set(weights.tensors))
  unexpected = sorted(set(weights.tensors) - set(expected))
  wrong_shape = sorted(name for name in set(expected) & set(weights.tensors)
                       if tuple(expected[name].shape) != weights.tensors[name].shape)
  if missing or unexpected or wrong_shape:
    raise WeightsError(f"{weights.path}: tensors do not match architecture {weights.metadata['architecture']!r}: "
                       f"missing {missing}, unexpected {unexpected}, wrong shape {wrong_shape}")
  encoder.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in weights.tensors.items()})
  return encoder.eval()
