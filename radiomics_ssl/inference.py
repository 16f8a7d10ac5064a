"""Running a weights file's encoder: device choice, a per-process model cache, batched encoding.

The model is loaded lazily, once per process for each (weights, device) pair, so `--jobs N`
workers each load their own copy and the parent never initialises CUDA.

On the CPU the encoder always runs with a fixed number of intra-op threads (`sslThreads`,
default 1), whatever the process's own torch setting: oneDNN's reductions depend on the thread
count (seen on Intel CPUs with AVX-512 and AMX), so a fixed count is what makes `--jobs 1`,
`--jobs N` and the Python API give bit-identical features. Parallelism comes from encoding ROIs in
parallel (`--jobs`), not from splitting one ROI over threads.
"""
import contextlib
import functools
import logging

import numpy as np

from radiomics_ssl import weights as weights_io

logger = logging.getLogger(__name__)
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
PRECISIONS = ("fp32", "bf16")


def resolve_device(name):
  """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device; CUDA asked for but absent is an error."""
  import torch

  if name == "auto":
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
  if name == "cpu":
    return torch.device("cpu")
  if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
    if not torch.cuda.is_available():
      raise RuntimeError(f"sslDevice={name!r}: CUDA was asked for but torch {torch.__version__} sees no CUDA device")
    index = int(name[5:]) if ":" in name else 0
    if index >= torch.cuda.device_count():
      raise RuntimeError(f"sslDevice={name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return torch.device("cuda", index)
  raise ValueError(f"sslDevice={name!r} is not one of {DEVICE_CHOICES}")


class LoadedEncoder:
  """An encoder on its device, with the weights file it came from.

  precision 'bf16' runs the convolutions under bfloat16 autocast (3.2x faster on CPUs with
  AVX-512 bf16, and on GPUs); features then differ from fp32 (benchmarks/extract.py measures
  by how much), so it is opt-in. Weights and outputs stay float32.
  """

  def __init__(self, weights, device, precision="fp32", threads=1):
    import torch

    if precision not in PRECISIONS:
      raise ValueError(f"sslPrecision={precision!r} is not one of {PRECISIONS}")
    self.weights = weights
    self.device = device
    self.precision = precision
    self.threads = threads
    if device.type == "cuda" and precision == "fp32":  # TF32 (cuDNN's default) moved features by 1.6e-3 on an H200
      torch.backends.cudnn.allow_tf32 = False
      torch.backends.cuda.matmul.allow_tf32 = False
    self.channels_last = device.type == "cpu"  # oneDNN's fast 3D convolution layout (benchmarks/extract.py)
    encoder = weights_io.build_encoder(weights).to(device)
    self.encoder = encoder.to(memory_format=torch.channels_last_3d) if self.channels_last else encoder

  def encode(self, boxes):
    """boxes: (B, D, H, W) float32 in [0, 255] -> (B, feature_dim) float64 features."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32))[:, None].to(self.device)
    if self.channels_last:
      x = x.contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode(), intra_op_threads(self.threads if self.device.type == "cpu" else None), \
         torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
      features = self.encoder(x)
    return features.double().cpu().numpy()

  def encode_rois(self, prepared_rois):
    """`preprocess.PreparedRoi`s -> one (feature_dim,) vector each: the box's features, or the tiles'
    mean weighted by their ROI voxels. All boxes go through the encoder as one batch."""
    features = self.encode(np.concatenate([prepared.boxes for prepared in prepared_rois]))
    vectors, start = [], 0
    for prepared in prepared_rois:
      tiles = features[start:start + len(prepared.boxes)]
      start += len(tiles)
      vectors.append(tiles[0] if len(tiles) == 1 else prepared.weights @ tiles / prepared.weights.sum())
    return vectors


def numerics(encoder):
  """What determines the values beyond the weights and the input: device, precision, threads, and
  the torch, oneDNN/cuDNN versions and CPU instruction set (recorded as diagnostics_ssl_*)."""
  import re

  import torch

  if encoder.device.type == "cuda":
    backend = f"cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(encoder.device)}"
    threads = None
  else:
    found = re.search(r"MKL-DNN v([0-9.]+)", torch.__config__.show())
    backend = f"oneDNN {found.group(1) if found else 'unknown'}, {torch.backends.cpu.get_cpu_capability()}"
    threads = encoder.threads
  return {"Device": str(encoder.device), "Precision": encoder.precision, "Threads": threads,
          "Torch": torch.__version__, "Backend": backend}


@contextlib.contextmanager
def intra_op_threads(count):
  """Run torch CPU ops with `count` intra-op threads, then restore the process's setting (None: as is)."""
  import torch

  previous = torch.get_num_threads()
  if count is not None and count != previous:
    torch.set_num_threads(count)
  try:
    yield
  finally:
    if torch.get_num_threads() != previous:
      torch.set_num_threads(previous)


@functools.lru_cache(maxsize=8)
def _cached(path, sha256, device_name, precision, threads):
  import torch

  logger.info("Loading ssl weights %s on %s (%s)", path, device_name, precision)
  weights = weights_io.load(path)
  if not weights.metadata.get("trained"):
    logger.warning("%s is an untrained encoder (trained: false); its features are a random-projection baseline", path)
  return LoadedEncoder(weights, torch.device(device_name), precision, threads)


def get_encoder(weights_name, device_name, precision="fp32", threads=1):
  """The cached encoder for (weights, device, precision, threads). The cache key includes the sha256
  the file's header claims, so a replaced file is loaded (and verified) again, not served from the cache."""
  device = resolve_device(device_name)
  path = weights_io.resolve(weights_name)
  return _cached(path, weights_io.read_header(path).get("sha256"), str(device), precision, threads)


def get_encoder_for(ssl):
  """The encoder named by validated ssl settings (see schema.ssl_settings)."""
  return get_encoder(ssl["sslWeights"], ssl["sslDevice"], ssl["sslPrecision"], ssl["sslThreads"])
