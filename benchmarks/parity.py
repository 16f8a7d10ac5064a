"""The parity table: the ssl columns of one batch, however it is run, against `--jobs 1`.

  python benchmarks/parity.py [--param params/ssl_only.yaml] [--data ../shared/data]

Runs `pyradiomicsssl` on the 5 pyradiomics cases with --jobs 1, a repeat, --jobs 2, --jobs 2 with
--out-dir, a resume after 2 of the 5 per-case files were lost, and the Python API; prints the
largest absolute difference of the 256 ssl columns from --jobs 1 (0 means bit-identical).
"""
import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pipeline import REPO, ssl_matrix


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--param", default=str(REPO / "params" / "ssl_only.yaml"))
  parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
  args = parser.parse_args()
  from radiomics_ssl.datasets import cohort_rows, write_batch_csv

  work = Path(tempfile.mkdtemp(prefix="parity-"))
  batch = write_batch_csv(work / "cases.csv", cohort_rows(args.data, "pyradiomics"))

  def cli(name, *extra):
    out = work / f"{name}.csv"
    result = subprocess.run(["pyradiomicsssl", batch, "--param", args.param, "--format", "csv", "--out", out, *extra],
                            capture_output=True, text=True)
    if result.returncode != 0:
      sys.exit(result.stderr[-2000:])
    return ssl_matrix(out)

  runs = {"--jobs 1": cli("jobs1"), "--jobs 1, repeated": cli("repeat"), "--jobs 2": cli("jobs2", "--jobs", "2"),
          "--jobs 2 --out-dir": cli("outdir", "--jobs", "2", "--out-dir", work / "cases")}
  for lost in sorted((work / "cases").iterdir())[1::2]:
    lost.unlink()
  runs["--out-dir resumed (2 of 5 files lost), --jobs 1"] = cli("resumed", "--out-dir", work / "cases")
  from radiomics.featureextractor import RadiomicsFeatureExtractor

  import radiomics_ssl

  radiomics_ssl.register()  # the opt-in
  from radiomics_ssl.extract.featureclass import FEATURE_DIM, ssl_column

  extractor = RadiomicsFeatureExtractor(args.param)
  vectors = [extractor.execute(row["Image"], row["Mask"]) for row in csv.DictReader(open(batch))]
  runs["Python API (RadiomicsFeatureExtractor)"] = np.array([[float(v[ssl_column("original", i)]) for i in range(FEATURE_DIM)]
                                                         for v in vectors])
  reference = runs["--jobs 1"]
  print(f"| run ({len(reference)} cases x 256 ssl columns) | max abs difference from --jobs 1 |\n|---|---|")
  for name, values in runs.items():
    print(f"| {name} | {np.abs(values - reference).max():.1e} |")


if __name__ == "__main__":
  main()
