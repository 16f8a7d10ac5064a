"""Batched encoding throughput and numerical agreement, on any device (the GPU table of issue 6).

  python benchmarks/encode_throughput.py [--device cuda] [--boxes 48 96] [--batch 64] [--weights ct-openkbp-siam3d]

For each box size and precision: ROIs per second for batched encoding (what `pyradiomicsssl
--ssl-batch` does on CUDA) and one ROI at a time, medians of --repeats timed passes after a
warm-up, on random boxes. Agreement: the largest relative difference of batched from per-ROI
features, and of this device from fp32 on the CPU, over the same boxes.
"""
import argparse

import numpy as np
import torch

from radiomics_ssl.inference import LoadedEncoder, resolve_device
from radiomics_ssl.config import DEFAULT_WEIGHTS
from radiomics_ssl.weights import load
from timing import median_seconds


def timed(function, repeats, sync):
  """Median of `repeats` timed calls after one untimed warm-up call (allocator, cuDNN autotuning)."""
  function()
  sync()
  return median_seconds(function, repeats, sync)


def relative(a, b):
  return float(np.abs(a - b).max() / np.abs(b).max())


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--device", default="auto")
  parser.add_argument("--boxes", type=int, nargs="+", default=[48, 96])
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
  args = parser.parse_args()
  device = resolve_device(args.device)
  cuda = device.type == "cuda"
  sync = torch.cuda.synchronize if cuda else (lambda: None)
  weights = load(args.weights)
  card = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
  print(f"device {device} ({card}), torch {torch.__version__}, weights {weights.name}, batch {args.batch}")
  print(f"{'box':>4} {'precision':>9} {'batched ROI/s':>14} {'per-ROI ROI/s':>14} {'batched vs per-ROI':>19} "
        f"{'vs CPU fp32':>12}")
  reference = LoadedEncoder(weights, torch.device("cpu"), "fp32")
  for box in args.boxes:
    boxes = np.random.default_rng(box).uniform(0, 255, (args.batch, box, box, box)).astype(np.float32)
    check = boxes[:8]
    cpu_features = reference.encode(check)
    for precision in ("fp32", "bf16"):
      encoder = LoadedEncoder(weights, device, precision)
      batched = args.batch / timed(lambda: encoder.encode(boxes), args.repeats, sync)
      single = 8 / timed(lambda: [encoder.encode(check[i:i + 1]) for i in range(8)], args.repeats, sync)
      together = encoder.encode(check)
      apart = np.concatenate([encoder.encode(check[i:i + 1]) for i in range(8)])
      print(f"{box:>4} {precision:>9} {batched:>14.1f} {single:>14.1f} {relative(together, apart):>19.2e} "
            f"{relative(together, cpu_features):>12.2e}", flush=True)


if __name__ == "__main__":
  main()
