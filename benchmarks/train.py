"""Training benchmark: iterations per second and where the time goes, plain 3DSiam vs RE vs SE.

  python benchmarks/train.py [--boxes 32 48] [--iterations 4] [--device auto]

Synthetic boxes (the data cache makes loading negligible during training, so the timings
isolate augmentation, forward/backward and the RE/SE module). Every variant runs one warm-up
epoch of plain 3DSiam, then `--iterations` balanced ones; medians of the balanced iterations
after the first, all variants measured in one run. The RE/SE overhead compares an iteration
with plain 3DSiam at the same training batch (6: SE's m, and RE with q=2 so N=6). The bank's
one-time fill is shown separately and amortised over `--amortise` iterations (a 400-iteration
run by default). The rank guard (train/monitor.py) encodes the monitored cases every `rank_every`
iterations; its share of an iteration is the last column.
"""
import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from radiomics_ssl.config import Contract, TrainConfig
from radiomics_ssl.train.augment import region_size
from radiomics_ssl.train.loop import Trainer

VARIANTS = {  # name -> TrainConfig fields
  "none": {"balance": "none"},
  "se-fresh": {"balance": "se", "balance_features": "fresh"},
  "se-bank": {"balance": "se", "balance_features": "bank"},
  "re-bank": {"balance": "re", "q": 2, "balance_features": "bank"},
}
KEYS = ("balance_s", "augment_s", "step_s")


def measure(box, fields, iterations, device, n_cases=30):
  config = TrainConfig(contract=Contract(box=box), iterations=10 ** 6, device=device, checkpoint_every=10 ** 6, **fields)
  region = region_size(box, config.augment.context)
  boxes = np.random.default_rng(0).uniform(0, 255, (n_cases, region, region, region)).astype(np.float32)
  with tempfile.TemporaryDirectory() as out_dir:
    trainer = Trainer(config, boxes, out_dir, data_summary={})
    for _ in range(trainer.warmup):
      trainer.step()
    first, *records = [trainer.step() for _ in range(iterations + 1)]
    started = time.perf_counter()
    trainer.monitor.measure(trainer._encode)  # the collapse guard's measurement, every rank_every iterations
    rank_s = time.perf_counter() - started
  if device.startswith("cuda"):
    torch.cuda.synchronize()
  median = {key: statistics.median(r[key] for r in records) for key in KEYS}
  return median, first["balance_s"], rank_s / config.rank_every


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--boxes", type=int, nargs="+", default=[32, 48])
  parser.add_argument("--iterations", type=int, default=4)
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  parser.add_argument("--amortise", type=int, default=400, help="run length over which the bank fill is amortised")
  parser.add_argument("--device", default="auto")
  args = parser.parse_args()
  device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
  card = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
  print(f"device {device} ({card}), torch {torch.__version__}, batch 6, k=3, q=10 (RE q=2), m=6, 30 synthetic cases")
  print(f"{'box':>4} {'variant':>9} {'it/s':>7} {'balance s':>10} {'augment s':>10} {'fwd+bwd s':>10} "
        f"{'first-balance s':>16} {'overhead':>9} {'amortised':>10} {'rank guard':>10}")
  for box in args.boxes:
    plain = None
    for name in args.variants:
      timing, first, rank_per_iteration = measure(box, VARIANTS[name], args.iterations, device)
      total = sum(timing.values())
      plain = total if name == "none" else plain
      overhead = amortised = ""
      if plain and name != "none":
        overhead = f"{100 * (total - plain) / plain:+.1f}%"
        amortised = f"{100 * (total - plain + (first - timing['balance_s']) / args.amortise) / plain:+.1f}%"
      print(f"{box:>4} {name:>9} {1 / total:>7.3f} {timing['balance_s']:>10.4f} {timing['augment_s']:>10.3f} "
            f"{timing['step_s']:>10.3f} {first:>16.3f} {overhead:>9} {amortised:>10} "
            f"{100 * rank_per_iteration / total:>9.1f}%", flush=True)


if __name__ == "__main__":
  main()
