"""Print a pyradiomicsssl CSV's first row grouped: provenance, classical features, ssl features.

  python examples/show_features.py sample/features.csv
"""
import csv
import sys

if __name__ == "__main__":
  row = next(csv.DictReader(open(sys.argv[1] if len(sys.argv) > 1 else "sample/features.csv")))
  classical = {k: v for k, v in row.items() if k.startswith("original_") and "_ssl_" not in k}
  ssl = {k: v for k, v in row.items() if k.startswith("original_ssl_")}
  for key in ("diagnostics_ssl_Weights", "diagnostics_ssl_WeightsSha256", "diagnostics_ssl_Device",
              "diagnostics_ssl_Contract"):
    print(f"{key}: {row.get(key)}")
  print(f"\n{len(classical)} classical features")
  for key, value in classical.items():
    print(f"  {key}: {float(value):.6g}")
  print(f"\n{len(ssl)} ssl features")
  for key, value in ssl.items():
    print(f"  {key}: {float(value):.6g}")
