"""Wall time of `pyradiomicsssl --dask local:2` against `--jobs 2` on the same cases, side by side.

  python benchmarks/cluster.py ../shared/data --cases 40 --repeats 3

Each repeat runs both commands, alternating which goes first, into fresh --out-dirs (so nothing
is reused); the table gives the medians and their ratio (goal: at most 1.1). The cases are the
first N LIDC nodules with params/ssl_ct.yaml (107 classical + 256 ssl features each).
"""
import argparse
import csv
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command):
  start = time.perf_counter()
  result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
  if result.returncode != 0:
    raise SystemExit(f"failed ({result.returncode}): {' '.join(map(str, command))}\n{result.stderr[-2000:]}")
  return time.perf_counter() - start


def main():
  from radiomics_ssl.datasets import cohort_rows, write_batch_csv

  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("data_dir")
  parser.add_argument("--cases", type=int, default=40)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as work:
    work = Path(work)
    batch = write_batch_csv(work / "cases.csv", cohort_rows(args.data_dir, "lidc")[:args.cases])
    base = ["pyradiomicsssl", batch, "--param", REPO / "params" / "ssl_ct.yaml", "--format", "csv"]
    runs = {"--jobs 2": ["--jobs", "2"], "--dask local:2": ["--dask", "local:2"]}
    times = {name: [] for name in runs}
    for repeat in range(args.repeats):
      for name in (list(runs) if repeat % 2 == 0 else list(runs)[::-1]):
        out = work / f"{name.replace(' ', '_')}-{repeat}"
        times[name].append(timed(base + runs[name] + ["--out-dir", out, "--out", f"{out}.csv"]))
    with open(work / f"--jobs_2-0.csv", newline="") as a, open(work / f"--dask_local:2-0.csv", newline="") as b:
      identical = list(csv.reader(a)) == list(csv.reader(b))
  medians = {name: statistics.median(values) for name, values in times.items()}
  print(f"{args.cases} LIDC nodules, params/ssl_ct.yaml, {args.repeats} repeats (medians, s)\n")
  print("| run | wall s (median) | all repeats |\n|---|---|---|")
  for name, values in times.items():
    print(f"| `{name}` | {medians[name]:.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
  print(f"\nratio dask / jobs: {medians['--dask local:2'] / medians['--jobs 2']:.2f}; CSVs identical: {identical}")


if __name__ == "__main__":
  main()
