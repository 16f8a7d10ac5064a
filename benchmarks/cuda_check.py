"""The CUDA path end to end, on a synthetic cohort: `pyradiomicsssl` on the CPU, on CUDA one case
at a time, and on CUDA batched (the default there), plus a short `radiomics-ssl-train` on CUDA.

  python benchmarks/cuda_check.py [--cases 24] [--jobs 4] [--out /tmp/cuda_check]

Prints wall times and how far the ssl values of each run are from the CPU run; classical
values must be identical in all three. Exits 1 if anything disagrees or fails.
"""
import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from radiomics_ssl.train.synthetic import make_cohort

PARAMS = Path(__file__).resolve().parents[1] / "params" / "ssl.yaml"


def extract(cases, out, *options):
  start = time.perf_counter()
  result = subprocess.run(["pyradiomicsssl", cases, "--param", PARAMS, "--format", "csv", "--out", out, *options],
                          capture_output=True, text=True)
  if result.returncode:
    sys.exit(f"pyradiomicsssl {' '.join(map(str, options))} failed:\n{result.stderr[-3000:]}")
  with open(out, newline="") as stream:
    return list(csv.DictReader(stream)), time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--cases", type=int, default=24)
  parser.add_argument("--jobs", type=int, default=4)
  parser.add_argument("--out", default="/tmp/cuda_check")
  args = parser.parse_args()
  out = Path(args.out)
  cases = make_cohort(str(out / "cohort"), n_cases=args.cases, ratio=(3, 1), size=48, seed=0)
  runs = {
    "cpu": ("--setting", "sslDevice:cpu", "--jobs", str(args.jobs)),
    "cuda per case": ("--setting", "sslDevice:cuda", "--ssl-batch", "1", "--jobs", "1"),
    "cuda batched": ("--setting", "sslDevice:cuda", "--jobs", str(args.jobs)),
  }
  rows = {name: extract(cases, out / f"{name.replace(' ', '_')}.csv", *options) for name, options in runs.items()}
  ssl = [f"original_ssl_{i}" for i in range(256)]
  reference = np.array([[float(r[k]) for k in ssl] for r in rows["cpu"][0]])
  ok = True
  print(f"{'run':>14} {'wall s':>7} {'device':>8} {'classical identical':>20} {'ssl max rel diff vs cpu':>24}")
  for name, (table, seconds) in rows.items():
    classical = [k for k in table[0] if k.startswith("original_") and k not in ssl]
    same = all({k: a[k] for k in classical} == {k: b[k] for k in classical} for a, b in zip(table, rows["cpu"][0]))
    values = np.array([[float(r[k]) for k in ssl] for r in table])
    difference = float(np.abs(values - reference).max() / np.abs(reference).max())
    ok &= same and np.isfinite(values).all() and difference < 1e-2
    print(f"{name:>14} {seconds:>7.1f} {table[0]['diagnostics_ssl_Device']:>8} {str(same):>20} {difference:>24.2e}")
  start = time.perf_counter()
  trained = subprocess.run(["radiomics-ssl-train", cases, "--out", out / "train", "--balance", "se", "--iterations", "8",
                            "--device", "cuda", "--box", "32"], capture_output=True, text=True)
  print(f"radiomics-ssl-train --device cuda (8 iterations, 32^3): exit {trained.returncode}, "
        f"{time.perf_counter() - start:.1f} s")
  ok &= trained.returncode == 0
  if trained.returncode:
    print(trained.stderr[-3000:])
  sys.exit(0 if ok else 1)


if __name__ == "__main__":
  main()
