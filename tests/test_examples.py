"""The examples run as documented (from the repository root)."""
import csv
import sys

from helpers import REPO, run


def test_sample_api_and_show_features(tmp_path):
  sample = tmp_path / "sample"
  assert run(sys.executable, REPO / "examples" / "make_sample.py", sample).returncode == 0
  image, mask = str(sample / "image.nii.gz"), str(sample / "mask.nii.gz")
  api = run(sys.executable, REPO / "examples" / "api_extractor.py", image, mask, cwd=REPO)
  assert api.returncode == 0, api.stderr[-2000:]
  assert api.stdout.startswith("107 classical + 256 ssl features; weights ct-openkbp-siam3d")
  features = tmp_path / "features.csv"
  extracted = run("pyradiomicsssl", image, mask, "--param", REPO / "params" / "ssl_ct.yaml", "--format", "csv",
                  "--out", features)  # as `make demo` runs it
  assert extracted.returncode == 0, extracted.stderr[-2000:]
  assert "sslModality is not set" not in extracted.stderr and "expect" not in extracted.stderr  # the demo's own file
  shown = run(sys.executable, REPO / "examples" / "show_features.py", features)
  assert "\n107 classical features\n" in shown.stdout and "\n256 ssl features\n" in shown.stdout


def test_batch_example(tmp_path):
  result = run("bash", REPO / "examples" / "batch_run.sh", tmp_path / "batch", cwd=REPO)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = list(csv.DictReader(open(tmp_path / "batch" / "features.csv")))
  assert len(rows) == 12 and all(r["original_ssl_255"] for r in rows) and "texture" in rows[0]
  assert len(list((tmp_path / "batch" / "cases").glob("*.csv"))) == 12  # one row per case,
  assert len(list((tmp_path / "batch" / "cases").glob("*.json"))) == 12  # with its provenance
