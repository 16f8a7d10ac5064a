"""`pyradiomicsssl` end to end, in subprocesses, on the real pyradiomics cases and on bad inputs."""
import csv
import pathlib
import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml

from helpers import PARAMS, bad_cases, make_untrained_weights, run

SSL = [f"original_ssl_{i}" for i in range(256)]


def read_rows(path):
  with open(path, newline="") as stream:
    return list(csv.DictReader(stream))


def cases_of(batch):
  return read_rows(batch)


def write_batch(path, cases):
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, ["ID", "Image", "Mask"])
    writer.writeheader()
    writer.writerows({"ID": name, "Image": image, "Mask": mask} for name, (image, mask) in cases.items())
  return str(path)


@pytest.fixture(scope="module")
def real_runs(pyradiomics_cases, tmp_path_factory):
  """Stock pyradiomics, pyradiomicsssl, a repeat, and --jobs 2, over the five real cases."""
  folder = tmp_path_factory.mktemp("real")
  batch = write_batch(folder / "batch.csv", pyradiomics_cases)
  params = yaml.safe_load(open(PARAMS / "ssl.yaml"))
  params["featureClass"].pop("ssl")
  params["setting"] = {k: v for k, v in params["setting"].items() if not k.startswith("ssl")}
  stock_params = folder / "stock.yaml"
  stock_params.write_text(yaml.safe_dump(params))
  commands = {
    "stock": ["pyradiomics", batch, "--param", stock_params],
    "ssl": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl.yaml"],
    "repeat": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml"],
    "jobs2": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--jobs", "2"],
    "out_dir": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--jobs", "2", "--out-dir", folder / "cases"],
    "resumed": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--out-dir", folder / "cases"],
    "batched": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl.yaml", "--jobs", "2", "--ssl-batch", "3",
                "--out-dir", folder / "batched_cases"],
    "bf16": ["pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--setting", "sslPrecision:bf16"],
  }
  outputs = {}
  for name, command in commands.items():
    if name == "resumed":  # two of the five cases were lost: the re-run extracts them and reuses the others
      for lost in sorted((folder / "cases").glob("*.csv"))[1::2]:
        lost.unlink()
    out = folder / f"{name}.csv"
    result = run(*command, "--format", "csv", "--out", out)
    assert result.returncode == 0, (name, result.stderr[-3000:])
    outputs[name] = read_rows(out)
  outputs["batched_cases"] = sorted(p.name for p in (folder / "batched_cases").iterdir())
  outputs["case_ids"] = [row["ID"] for row in read_rows(batch)]
  return outputs


def test_classical_values_equal_stock_pyradiomics_exactly(real_runs):
  stock, ours = real_runs["stock"], real_runs["ssl"]
  assert [r["ID"] for r in ours] == [r["ID"] for r in stock]
  for mine, theirs in zip(ours, stock):
    classical = [k for k in theirs if k.startswith("original_")]
    assert len(classical) == 107
    assert {k: mine[k] for k in classical} == {k: theirs[k] for k in classical}


def test_ssl_values_are_finite_distinct_and_in_the_same_row(real_runs):
  rows = real_runs["ssl"]
  values = np.array([[float(r[k]) for k in SSL] for r in rows])
  assert values.shape == (5, 256) and np.isfinite(values).all()
  assert len({tuple(v) for v in values}) == 5
  header = list(rows[0])
  assert [k for k in header if k.startswith("original_ssl_")] == SSL  # numeric order, beside the classical ones
  assert all(r["diagnostics_ssl_Weights"] and len(r["diagnostics_ssl_WeightsSha256"]) == 64 for r in rows)


def test_ssl_values_are_bit_identical_whatever_the_parallelism(real_runs, pyradiomics_cases):
  """--jobs 1 and 2 (pyradiomics allows up to the core count), a repeat, --out-dir with 2 jobs and its
  resume with 1, and the Python API: max |difference| 0.
  The encoder runs at a fixed thread count (sslThreads) whatever the process's, so oneDNN reduces
  in the same order everywhere on one machine."""
  import radiomics_ssl

  radiomics_ssl.register()
  from radiomics.featureextractor import RadiomicsFeatureExtractor

  first = np.array([[float(r[k]) for k in SSL] for r in real_runs["ssl"]])
  for name in ("repeat", "jobs2", "out_dir", "resumed"):
    values = np.array([[float(r[k]) for k in SSL] for r in real_runs[name]])
    assert np.abs(values - first).max() == 0, name
  extractor = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml"))
  vectors = [extractor.execute(*pyradiomics_cases[r["ID"]]) for r in real_runs["ssl"]]
  api = np.array([[vector[k] for k in SSL] for vector in vectors])
  assert np.abs(api - first).max() == 0
  assert {r["diagnostics_ssl_Threads"] for r in real_runs["jobs2"]} == {"1"}


def test_batched_encoding_gives_the_per_case_values(real_runs):
  per_case, batched = real_runs["ssl"], real_runs["batched"]
  assert [list(r) for r in batched] == [list(r) for r in per_case]  # same columns, same order
  for mine, theirs in zip(batched, per_case):
    classical = [k for k in theirs if k.startswith("original_") and k not in SSL]
    assert {k: mine[k] for k in classical} == {k: theirs[k] for k in classical}
    # batches of 3 and of 1 run different oneDNN kernels: equal to float32 rounding, not bitwise
    np.testing.assert_allclose([float(mine[k]) for k in SSL], [float(theirs[k]) for k in SSL], rtol=1e-4, atol=1e-5)
    assert mine["diagnostics_ssl_Device"] == "cpu" and mine["diagnostics_ssl_Precision"] == "fp32"
  stems = sorted({name.rsplit(".", 1)[0] for name in real_runs["batched_cases"]})  # each case written once encoded,
  assert sorted(real_runs["batched_cases"]) == sorted([f"{stem}.csv" for stem in stems] + [f"{stem}.json" for stem in stems])
  assert sorted(stem.split("-")[0] for stem in stems) == sorted(real_runs["case_ids"])  # with its provenance, named by ID


def test_bf16_is_opt_in_close_to_fp32_and_recorded(real_runs):
  fp32 = np.array([[float(r[k]) for k in SSL] for r in real_runs["ssl"]])
  bf16 = np.array([[float(r[k]) for k in SSL] for r in real_runs["bf16"]])
  assert all(r["diagnostics_ssl_Precision"] == "fp32" for r in real_runs["ssl"])
  assert all(r["diagnostics_ssl_Precision"] == "bf16" for r in real_runs["bf16"])
  assert not np.array_equal(bf16, fp32)  # it does change values, hence opt-in
  for a, b in zip(fp32, bf16):
    assert np.corrcoef(a, b)[0, 1] > 0.99


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory):
  """A batch whose first and last cases are good and whose others each carry one defect."""
  folder = tmp_path_factory.mktemp("bad")
  cases, problems = bad_cases(folder)
  return write_batch(folder / "batch.csv", cases), problems, folder


def test_bad_cases_are_named_and_the_others_complete(bad_batch, tmp_path):
  batch, problems, folder = bad_batch
  out = tmp_path / "out.csv"
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--format", "csv", "--out", out)
  assert result.returncode == 1, result.stderr[-2000:]
  assert f"{len(problems)} of {len(problems) + 2} case(s) failed" in result.stderr
  for problem in problems.values():
    assert problem in result.stderr
  assert "moved_mask.nii.gz" in result.stderr  # the geometry error names the files too
  rows = {r["ID"]: r for r in read_rows(out)}
  assert list(rows) == ["good", "good_again"]  # a failed case is reported, never written as a row
  for good in ("good", "good_again"):
    assert np.isfinite([float(rows[good][k]) for k in SSL]).all()


def test_out_dir_is_resumable_and_skips_failed_cases(bad_batch, tmp_path):
  batch, _, _ = bad_batch
  out_dir = tmp_path / "cases"
  args = ["pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--out-dir", out_dir, "--format", "csv"]
  first = run(*args, "--out", tmp_path / "first.csv")
  assert first.returncode == 1
  stored_files = sorted(p.name for p in out_dir.glob("*.csv"))
  assert [name.split("-")[0] for name in stored_files] == ["good", "good_again"]
  stored = read_rows(out_dir / stored_files[0])[0]
  stored["original_ssl_0"] = "12345.0"  # a resumed run must reuse the stored result
  with open(out_dir / stored_files[0], "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(stored))
    writer.writeheader()
    writer.writerow(stored)
  second = run(*args, "--out", tmp_path / "second.csv")
  assert read_rows(tmp_path / "second.csv")[0]["original_ssl_0"] == "12345.0"
  assert second.returncode == 1


def test_json_and_txt_formats_and_validate(bad_batch, tmp_path):
  _, _, folder = bad_batch
  single = [str(folder / "image.nii.gz"), str(folder / "mask.nii.gz"), "--param", str(PARAMS / "ssl_only.yaml")]
  as_json = run("pyradiomicsssl", *single, "--format", "json")
  assert as_json.returncode == 0, as_json.stderr[-2000:]
  record = json.loads(as_json.stdout)[0]
  assert len([k for k in record if k.startswith("original_ssl_")]) == 256
  as_txt = run("pyradiomicsssl", *single, "--format", "txt")
  assert "Case-1_original_ssl_255:" in as_txt.stdout
  validated = run("pyradiomicsssl", *single, "--validate")
  assert validated.returncode == 0 and "original_ssl_0" not in validated.stdout


@pytest.mark.parametrize("setting, message", [
  ("sslWeigths:ct-openkbp-siam3d", "--setting 'sslWeigths:ct-openkbp-siam3d': unknown setting"),
  ("sslDevice:gpu", "gpu"),
  ("sslWeights:/nonexistent/w.safetensors", "no such file"),
])
def test_bad_settings_exit_2_before_any_case(bad_batch, setting, message):
  batch, _, _ = bad_batch
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--setting", setting)
  assert result.returncode == 2
  assert message in result.stderr
  assert "case 1" not in result.stderr


def test_label_setting_selects_the_roi(bad_batch, tmp_path):
  _, _, folder = bad_batch
  args = [folder / "image.nii.gz", folder / "label2_mask.nii.gz", "--param", PARAMS / "ssl_only.yaml", "--format", "csv"]
  assert run("pyradiomicsssl", *args).returncode == 1  # label 1 is absent
  result = run("pyradiomicsssl", *args, "--setting", "label:2", "--out", tmp_path / "label2.csv")
  assert result.returncode == 0, result.stderr[-2000:]
  labelled = read_rows(tmp_path / "label2.csv")[0]
  single = run("pyradiomicsssl", folder / "image.nii.gz", folder / "mask.nii.gz", "--param", PARAMS / "ssl_only.yaml",
               "--format", "csv", "--out", tmp_path / "label1.csv")
  assert single.returncode == 0
  assert [labelled[k] for k in SSL] == [read_rows(tmp_path / "label1.csv")[0][k] for k in SSL]  # same ROI voxels


def test_voxel_mode_is_refused(bad_batch):
  _, _, folder = bad_batch
  result = run("pyradiomicsssl", folder / "image.nii.gz", folder / "mask.nii.gz", "--param", PARAMS / "ssl_only.yaml",
               "--mode", "voxel")
  assert result.returncode == 2 and "segment mode" in result.stderr


def test_typo_in_params_file_exits_2(bad_batch, tmp_path):
  batch, _, _ = bad_batch
  params = yaml.safe_load(open(PARAMS / "ssl_only.yaml"))
  params["setting"]["sslWeigths"] = params["setting"].pop("sslWeights")
  path = tmp_path / "typo.yaml"
  path.write_text(yaml.safe_dump(params))
  result = run("pyradiomicsssl", batch, "--param", path)
  assert result.returncode == 2 and "sslWeigths" in result.stderr and "typo.yaml" in result.stderr


def test_unusable_weights_exit_2_naming_the_file(bad_batch, tmp_path):
  batch, _, _ = bad_batch
  good = make_untrained_weights(tmp_path / "good.safetensors")
  corrupt = tmp_path / "corrupt.safetensors"
  corrupt.write_bytes(open(good, "rb").read()[:3000])
  tampered = tmp_path / "tampered.safetensors"
  data = bytearray(open(good, "rb").read())
  data[-100] ^= 0xFF
  tampered.write_bytes(bytes(data))
  for path, message in ((corrupt, "corrupt.safetensors: not a readable"), (tampered, "tampered.safetensors: sha256 mismatch")):
    result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--setting", f"sslWeights:{path}")
    assert result.returncode == 2, result.stderr[-1000:]
    assert message in result.stderr


def test_cuda_without_cuda_exits_2(bad_batch):
  batch, _, _ = bad_batch
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--setting", "sslDevice:cuda")
  if torch.cuda.is_available():
    assert result.returncode == 1  # the bad cases of the batch still fail; the device works
  else:
    assert result.returncode == 2 and "CUDA was asked for" in result.stderr



def test_a_failing_encoder_stage_stops_the_batch_with_its_reason_instead_of_hanging(pyradiomics_cases, tmp_path):
  """A per-case file that cannot be written (a folder stands where it goes) stops the batch: exit code 2."""
  from radiomics_ssl.extract import resume

  batch = write_batch(tmp_path / "batch.csv", dict(list(pyradiomics_cases.items())[:2]))
  out_dir = tmp_path / "cases"
  out_dir.mkdir()
  row_path, _ = resume.paths(str(out_dir), read_rows(batch)[0])
  pathlib.Path(row_path + ".tmp").mkdir()
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--out-dir", out_dir, timeout=300)
  assert result.returncode == 2, result.stderr[-2000:]
  assert "the encoder stage failed" in result.stderr and "Is a directory" in result.stderr
