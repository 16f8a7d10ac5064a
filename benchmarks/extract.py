"""Extraction benchmark: classical-only vs classical + ssl, per case and whole process, and the
encoder's speed against the FLOP floor.

  python benchmarks/extract.py [--data ../shared/data] [--repeats 5] [--weights NAME]

Everything is measured in one run, side by side, and reported as medians (these machines are
shared and noisy):
- whole process: the stock `pyradiomics` command line against `pyradiomicsssl` on the five
  pyradiomics cases, --jobs 1 and 2 (torch's import, the model load and the encoding included);
- per case, in one process: a stock extractor against one with the ssl class;
- the encoder: seconds per ROI against the FLOP floor (the encoder's FLOPs over this machine's
  measured matmul peak at the same precision), at the fixed thread count of extraction (1) and at 2.
"""
import argparse
import os
import platform
import resource
import sys
from pathlib import Path

import numpy as np
import torch

import radiomics_ssl  # noqa: E402
from radiomics.featureextractor import RadiomicsFeatureExtractor  # noqa: E402
from radiomics_ssl.cases import load_case  # noqa: E402
from radiomics_ssl.config import DEFAULT_WEIGHTS  # noqa: E402
from radiomics_ssl.datasets import cohort_rows  # noqa: E402
from radiomics_ssl.inference import LoadedEncoder, get_encoder  # noqa: E402
from radiomics_ssl.model import encoder_flops  # noqa: E402
from radiomics_ssl.preprocess import prepare_roi  # noqa: E402
from timing import median_seconds  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
radiomics_ssl.register()


def matmul_peak(dtype, threads, n=2048, repeats=5):
  from radiomics_ssl.inference import numerics_scope

  a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
  with numerics_scope(torch.device("cpu"), "fp32", threads):
    torch.mm(a, b)
    return 2 * n ** 3 / median_seconds(lambda: torch.mm(a, b), repeats) / 1e9


def whole_process(data, params, weights, repeats, folder, before=None):
  """Median wall time of the stock CLI (classical features) and of pyradiomicsssl (classical + ssl)
  over the five pyradiomics cases, the commands interleaved run by run; with `before` (a checkout of
  an earlier release), that release's pyradiomicsssl too, in the same loop."""
  import statistics
  import subprocess
  import time

  import yaml

  from radiomics_ssl.datasets import write_batch_csv

  os.makedirs(folder, exist_ok=True)
  batch = write_batch_csv(os.path.join(folder, "cases.csv"), cohort_rows(data, "pyradiomics"))
  stock = yaml.safe_load(open(params))
  stock["featureClass"].pop("ssl")
  stock["setting"] = {k: v for k, v in stock["setting"].items() if not k.startswith("ssl")}
  classical = os.path.join(folder, "classical.yaml")
  yaml.safe_dump(stock, open(classical, "w"))
  extra = ["--setting", f"sslWeights:{weights}"] if weights else []
  commands = {"pyradiomics": ["pyradiomics", batch, "--param", classical],
              "pyradiomicsssl": ["pyradiomicsssl", batch, "--param", params] + extra}
  if before:
    launcher = f"import sys; sys.path.insert(0, {str(before)!r}); from radiomics_ssl.extract.cli import main; sys.exit(main())"
    commands["before"] = [sys.executable, "-c", launcher, batch, "--param", params] + extra
  print(f"whole process, 5 cases, median of {repeats} (interleaved): seconds, and the ratio to pyradiomics")
  for jobs in ("1", "2"):
    times = {name: [] for name in commands}
    for _ in range(repeats):
      for name, command in commands.items():
        out = os.path.join(folder, f"out-{name}.csv")
        if os.path.exists(out):
          os.remove(out)
        start = time.perf_counter()
        subprocess.run(command + ["--jobs", jobs, "-o", out, "-f", "csv"], check=True, capture_output=True)
        times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"--jobs {jobs}: " + ", ".join(f"{name} {value:.2f} s ({value / medians['pyradiomics']:.2f}x)"
                                         for name, value in medians.items()), flush=True)
  print()


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--weights", default=None, help="sslWeights (default: the shipped default)")
  parser.add_argument("--sts", type=int, default=4, help="how many STS MR cases to add to the pyradiomics cases")
  parser.add_argument("--work", default="/tmp/radiomics_ssl_extract_benchmark")
  parser.add_argument("--before", help="a checkout of an earlier release, timed beside this one (whole process)")
  parser.add_argument("--whole-process-only", action="store_true", help="stop after the whole-process timing")
  args = parser.parse_args()

  params = str(REPO / "params" / "ssl.yaml")
  settings = {"sslWeights": args.weights} if args.weights else {}
  with_ssl = RadiomicsFeatureExtractor(params, **settings)
  classical = RadiomicsFeatureExtractor(params)
  classical.enabledFeatures.pop("ssl")
  rows = cohort_rows(args.data, "pyradiomics") + cohort_rows(args.data, "sts-mr")[: args.sts]
  encoder = get_encoder(args.weights or DEFAULT_WEIGHTS, "cpu")
  box = encoder.weights.contract.box

  print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
        f"weights {encoder.weights.name} (box {box}^3); the encoder runs at sslThreads={encoder.threads}\n")
  whole_process(args.data, params, args.weights, args.repeats, args.work, args.before)
  if args.whole_process_only:
    return
  peaks = {(dtype, threads): matmul_peak(getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[dtype]), threads)
           for dtype in ("fp32", "bf16") for threads in (1, 2)}
  print("matmul peak (2048^2, median of 5), GFLOP/s: " +
        ", ".join(f"{dtype} {threads} thread(s) {peak:.0f}" for (dtype, threads), peak in peaks.items()) + "\n")

  print(f"{'case':<10} {'classical s':>11} {'classical+ssl s':>15} {'ratio':>6}")
  totals = [0.0, 0.0]
  for row in rows:
    image, mask = load_case(row["Image"], row["Mask"])
    name = row["ID"] if row["Cohort"] == "pyradiomics" else f"{row['ID'][-3:]}-{row['Cohort']}"
    with_ssl.execute(image, mask)  # warm-up: loads the model once
    t_classical = median_seconds(lambda: classical.execute(image, mask), args.repeats)
    t_ssl = median_seconds(lambda: with_ssl.execute(image, mask), args.repeats)
    totals[0] += t_classical
    totals[1] += t_ssl
    print(f"{name:<10} {t_classical:>11.3f} {t_ssl:>15.3f} {t_ssl / t_classical:>6.2f}")
  print(f"{'total':<10} {totals[0]:>11.3f} {totals[1]:>15.3f} {totals[1] / totals[0]:>6.2f}")
  print(f"peak RSS after extraction: {peak_rss_mb():.0f} MB\n")

  flops = encoder_flops(box, encoder.weights.metadata["arguments"])
  encoders = {("fp32", 1): encoder, ("fp32", 2): LoadedEncoder(encoder.weights, torch.device("cpu"), "fp32", 2),
              ("bf16", 1): LoadedEncoder(encoder.weights, torch.device("cpu"), "bf16", 1)}
  boxes = np.random.default_rng(0).uniform(0, 255, (1, box, box, box)).astype(np.float32)
  print(f"encoder forward at {box}^3: {flops / 1e9:.2f} GFLOP")
  print(f"{'precision':<10} {'threads':>7} {'s/ROI':>8} {'GFLOP/s':>8} {'floor s':>8} {'x floor':>8}")
  for (label, threads), loaded in encoders.items():
    loaded.encode(boxes)
    seconds = median_seconds(lambda: loaded.encode(boxes), args.repeats * 2)
    floor = flops / (peaks[(label, threads)] * 1e9)
    print(f"{label:<10} {threads:>7} {seconds:>8.4f} {flops / seconds / 1e9:>8.1f} {floor:>8.4f} {seconds / floor:>8.2f}")

  real = np.stack([prepare_roi(*load_case(row["Image"], row["Mask"]), 1, encoder.weights.contract).box for row in rows])
  fp32, bf16 = encoder.encode(real), encoders[("bf16", 1)].encode(real)
  correlations = [np.corrcoef(fp32[:, j], bf16[:, j])[0, 1] for j in range(fp32.shape[1]) if fp32[:, j].std() > 0]
  print(f"bf16 vs fp32 on the {len(rows)} real ROIs: max relative difference "
        f"{np.abs(bf16 - fp32).max() / np.abs(fp32).max():.2e}; per-feature correlation across cases: "
        f"median {np.median(correlations):.4f}, min {np.min(correlations):.4f}")
  print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
  main()
