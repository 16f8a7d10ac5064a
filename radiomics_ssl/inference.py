"""Running a weights file's encoder: device choice, a per-process model cache, encoding ROIs.

The model is loaded lazily, once per process for each (verified weights, device, precision,
threads), so `--jobs N` workers never load one and the parent never initialises CUDA early.

On the CPU the encoder always runs with a fixed number of intra-op threads (`sslThreads`,
default 1), whatever the process's own torch setting: oneDNN's reductions depend on the thread
count (seen on Intel CPUs with AVX-512 and AMX), so a fixed count is what makes `--jobs 1`,
`--jobs N` and the Python API give bit-identical features. Parallelism comes from encoding ROIs in
parallel (`--jobs`, and the encoder stage overlapping the classical features), not from splitting
one ROI over threads.
"""
import contextlib
import logging
import re
import threading

import numpy as np

from radiomics_ssl import weights as weights_io
from radiomics_ssl.config import DEFAULT_CUDA_BATCH, DEVICE_PATTERN, PRECISIONS

logger = logging.getLogger(__name__)
# Features agree across machines within this share of their largest magnitude (README, "Reproducibility").
# Measured by benchmarks/numerics.py: SSE4.1 against AVX-512 1.6e-6, 2 threads against 1 2.8e-7, and
# an H200 against the CPU 2.4e-6 (benchmarks/RESULTS.md); the margin is about 8x.
CROSS_MACHINE_TOLERANCE = 2e-5
_encoders = {}  # (weights sha256, device, precision, threads) -> LoadedEncoder
_lock = threading.Lock()


def resolve_device(name):
  """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device; CUDA asked for but absent is an error."""
  import torch

  if not re.match(DEVICE_PATTERN, str(name)):
    raise ValueError(f"sslDevice={name!r} is not one of auto, cpu, cuda or cuda:N")
  if name == "auto":
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
  if name == "cpu":
    return torch.device("cpu")
  if not torch.cuda.is_available():
    raise RuntimeError(f"sslDevice={name!r}: CUDA was asked for but torch {torch.__version__} sees no CUDA device")
  index = int(name[5:]) if ":" in name else 0
  if index >= torch.cuda.device_count():
    raise RuntimeError(f"sslDevice={name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
  return torch.device("cuda", index)


class LoadedEncoder:
  """An encoder on its device, with the verified weights file it came from.

  precision 'bf16' runs the convolutions under bfloat16 autocast (3.2x faster on CPUs with
  AVX-512 bf16, and on GPUs); features then differ from fp32 (benchmarks/extract.py measures
  by how much), so it is opt-in. Weights and outputs stay float32.
  """

  def __init__(self, weights, device, precision="fp32", threads=1):
    import torch

    if precision not in PRECISIONS:
      raise ValueError(f"sslPrecision={precision!r} is not one of {PRECISIONS}")
    self.weights, self.device, self.precision, self.threads = weights, device, precision, threads
    self.channels_last = device.type == "cpu"  # oneDNN's fast 3D convolution layout (benchmarks/extract.py)
    encoder = weights_io.build_encoder(weights).to(device)
    self.encoder = encoder.to(memory_format=torch.channels_last_3d) if self.channels_last else encoder

  @property
  def contract(self):
    return self.weights.contract

  @property
  def default_batch(self):
    """ROIs per encoder call unless asked otherwise: 1 on the CPU (bit-identical values whatever
    else is encoded), DEFAULT_CUDA_BATCH on CUDA."""
    return DEFAULT_CUDA_BATCH if self.device.type == "cuda" else 1

  def encode(self, boxes):
    """boxes: (B, D, H, W), or (B, channels, D, H, W), float32 in [0, 255] -> (B, feature_dim) float64 features."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32))
    x = (x[:, None] if x.dim() == 4 else x).to(self.device)
    if self.channels_last:
      x = x.contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode(), numerics_scope(self.device, self.precision, self.threads), \
         torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
      features = self.encoder(x)
    return features.double().cpu().numpy()

  def encode_rois(self, prepared_rois):
    """`preprocess.PreparedRoi`s -> one (feature_dim,) vector each: the box's features, or the tiles'
    mean weighted by their ROI voxels. All boxes go through the encoder as one batch."""
    features = self.encode(np.concatenate([prepared.inputs for prepared in prepared_rois]))
    if not np.isfinite(features).all():
      raise ValueError(f"{self.weights.path}: the encoder produced non-finite features")
    vectors, start = [], 0
    for prepared in prepared_rois:
      tiles = features[start:start + len(prepared.boxes)]
      start += len(tiles)
      vectors.append(tiles[0] if len(tiles) == 1 else prepared.weights @ tiles / prepared.weights.sum())
    return vectors


  def encode_each(self, prepared_rois, batch=1):
    """encode_rois `batch` ROIs per call (1: one call per ROI, what makes the CPU's values
    bit-identical whatever else is encoded beside them) -> one vector per ROI."""
    return [vector for start in range(0, len(prepared_rois), batch)
            for vector in self.encode_rois(prepared_rois[start:start + batch])]


def get_encoder(weights_name, device_name="auto", precision="fp32", threads=1):
  """The cached encoder for (weights, device, precision, threads). The cache keys on the sha256 of
  the verified file, so a replaced file is verified and loaded again, never served stale."""
  weights = weights_io.load(weights_name)
  device = resolve_device(device_name)
  key = (weights.sha256, str(device), precision, threads)
  with _lock:
    if key not in _encoders:
      logger.info("Loading ssl weights %s on %s (%s, %d thread(s))", weights.path, device, precision, threads)
      if not weights.metadata.get("trained"):
        logger.warning("%s is an untrained encoder (trained: false); its features are a random-projection baseline",
                       weights.path)
      _encoders[key] = LoadedEncoder(weights, device, precision, threads)
    return _encoders[key]


def get_encoder_for(ssl):
  """The encoder named by validated ssl settings (see extract/schema.ssl_settings)."""
  return get_encoder(ssl["sslWeights"], ssl["sslDevice"], ssl["sslPrecision"], ssl["sslThreads"])


def numerics(encoder):
  """What determines the values beyond the weights and the input: device, precision, threads, and
  the torch, oneDNN/cuDNN versions and CPU instruction set (recorded as diagnostics_ssl_*)."""
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
def numerics_scope(device, precision, threads):
  """The encoder's numerics for the duration of one call, then the caller's own settings back:
  - on the CPU, `threads` intra-op threads (oneDNN's reductions depend on the count);
  - on CUDA at fp32, TF32 off (cuDNN's default TF32 moved features by 1.6e-3 on an H200).
  A user who calls the API inside their own torch program keeps their thread count and TF32 flags."""
  import torch

  previous_threads = torch.get_num_threads()
  previous_tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
  if device.type == "cpu" and threads is not None and threads != previous_threads:
    torch.set_num_threads(threads)
  if device.type == "cuda" and precision == "fp32":
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
  try:
    yield
  finally:
    if torch.get_num_threads() != previous_threads:
      torch.set_num_threads(previous_threads)
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous_tf32
