"""How far ssl features move with the CPU's instruction set and the thread count (issue 12).

  python benchmarks/numerics.py [--weights NAME] [--data ../shared/data]

Each configuration runs in its own process (the instruction set is chosen when torch loads):
oneDNN's ISA cap (`ONEDNN_MAX_CPU_ISA`) and ATen's vector kernels (`ATEN_CPU_CAPABILITY`) simulate
older CPUs on this one; `sslThreads` changes the encoder's intra-op thread count. Every
configuration encodes the golden input and the five pyradiomics cases, and the table prints the
largest difference from the reference (this CPU's best ISA, 1 thread), absolute and relative to
the largest |feature|. The golden test's tolerance comes from this table, with margin.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIGURATIONS = {  # name -> (environment, sslThreads)
  "native ISA, 1 thread (reference)": ({}, 1),
  "native ISA, 2 threads": ({}, 2),
  "AVX2 (oneDNN and ATen)": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, 1),
  "AVX2, 2 threads": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, 2),
  "SSE4.1 (oneDNN), no ATen vectors": ({"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default"}, 1),
}

CHILD = """
import json, sys
import numpy as np
import torch
from radiomics_ssl.cases import crop_to_roi, load_case
from radiomics_ssl.datasets import cohort_rows
from radiomics_ssl.inference import get_encoder
from radiomics_ssl.preprocess import prepare_roi
sys.path.insert(0, {tests!r})
from golden import golden_case
weights, data, threads, out = sys.argv[1:5]
encoder = get_encoder(weights, "cpu", "fp32", int(threads))
golden = np.round(golden_case(encoder.contract))[None].astype(np.float32)
rois = [prepare_roi(*crop_to_roi(*load_case(r["Image"], r["Mask"])), 1, encoder.contract) for r in cohort_rows(data, "pyradiomics")]
features = np.vstack([encoder.encode(golden)] + encoder.encode_rois(rois))
np.save(out, features)
print(json.dumps({{"capability": torch.backends.cpu.get_cpu_capability()}}))
"""


def run(weights, data, environment, threads, out):
  env = dict(os.environ, **environment)
  code = CHILD.format(tests=str(REPO / "tests"))
  result = subprocess.run([sys.executable, "-c", code, weights, data, str(threads), out], env=env,
                          capture_output=True, text=True)
  if result.returncode != 0:
    raise SystemExit(result.stderr[-2000:])
  return json.loads(result.stdout.strip().splitlines()[-1])["capability"], np.load(out)


def main():
  from radiomics_ssl.config import DEFAULT_WEIGHTS

  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--out", default="/tmp/radiomics_ssl_numerics")
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  import torch

  print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
        f"weights {args.weights}; the golden input and 5 pyradiomics ROIs")
  print(f"{'configuration':<36} {'ATen ISA':>9} {'max |diff|':>11} {'relative':>9} {'bitwise':>8}")
  reference = None
  for index, (name, (environment, threads)) in enumerate(CONFIGURATIONS.items()):
    capability, features = run(args.weights, args.data, environment, threads, os.path.join(args.out, f"{index}.npy"))
    reference = features if reference is None else reference
    difference = np.abs(features - reference).max()
    print(f"{name:<36} {capability:>9} {difference:>11.2e} {difference / np.abs(reference).max():>9.2e} "
          f"{'yes' if difference == 0 else 'no':>8}", flush=True)


if __name__ == "__main__":
  main()
