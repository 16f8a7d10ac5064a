"""Training benchmark: iterations per second and where the time goes, plain 3DSiam vs RE vs SE.

  python benchmarks/train.py [--boxes 48 96] [--iterations 4] [--device auto]

Synthetic boxes (the data cache makes loading negligible during training, so the timings
isolate augmentation, forward/backward and the RE/SE module). Medians of the post-warm-up
iterations, all variants measured in one run.
"""
import argparse
import statistics

import numpy as np
import torch

from radiomics_ssl.config import Contract, TrainConfig
from radiomics_ssl.train.loop import Trainer


def measure(box, balance, iterations, device, out_dir, q):
  rng = np.random.default_rng(0)
  boxes = rng.uniform(0, 255, (max(12, 3 * q), box, box, box)).astype(np.float32)
  config = TrainConfig(contract=Contract(box=box), balance=balance, q=q, iterations=iterations + 2,
                       device=device, warmup_epochs=0, checkpoint_every=10 ** 6)
  trainer = Trainer(config, boxes, out_dir, data_summary={})
  records = [trainer.step() for _ in range(iterations + 1)][1:]  # the first step warms up the allocator
  return {key: statistics.median(r[key] for r in records) for key in ("balance_s", "augment_s", "step_s")}


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--boxes", type=int, nargs="+", default=[48, 96])
  parser.add_argument("--iterations", type=int, default=4)
  parser.add_argument("--device", default="auto")
  parser.add_argument("--q", type=int, default=10, help="candidates per cluster (N = 3q)")
  args = parser.parse_args()
  import tempfile

  device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
  print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch 6, k=3, q={args.q}, m=6")
  print(f"{'box':>4} {'mode':>5} {'it/s':>7} {'balance s':>10} {'augment s':>10} {'fwd+bwd s':>10} {'overhead vs none':>17}")
  for box in args.boxes:
    plain = None
    for balance in ("none", "se", "re"):
      if balance == "re" and box > 48:
        print(f"{box:>4} {balance:>5}   skipped: RE trains on all N = 3q cases per step, which does not fit in memory here")
        continue
      with tempfile.TemporaryDirectory() as out_dir:
        timing = measure(box, balance, args.iterations, device, out_dir, args.q)
      total = sum(timing.values())
      plain = total if balance == "none" else plain
      overhead = "" if balance == "none" else f"{100 * (total - plain) / plain:+.0f}%"
      print(f"{box:>4} {balance:>5} {1 / total:>7.3f} {timing['balance_s']:>10.3f} {timing['augment_s']:>10.3f} "
            f"{timing['step_s']:>10.3f} {overhead:>17}", flush=True)


if __name__ == "__main__":
  main()
