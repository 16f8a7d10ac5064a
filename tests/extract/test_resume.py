"""--out-dir never serves a stale row: a changed parameter file, weights, image file or row order
recomputes what changed, says why, and gives the values a fresh run gives."""
import shutil

import pytest

from helpers import PARAMS, read_rows, run, write_cases

CASES = ("STS_001", "STS_002", "STS_003")


@pytest.fixture()
def pet_batch(shared_data, tmp_path):
  """Three STS PET cases, with their files copied so that one can be replaced."""
  rows = []
  for case in CASES:
    folder = tmp_path / "data" / case
    folder.mkdir(parents=True)
    for name in ("PET_image.nii.gz", "PET_mask.nii.gz"):
      shutil.copy(shared_data / "sts" / case / name, folder / name)
    rows.append({"ID": case, "Image": str(folder / "PET_image.nii.gz"), "Mask": str(folder / "PET_mask.nii.gz")})
  return write_cases(tmp_path / "batch.csv", rows), rows


def extract(batch, out, *args):
  result = run("pyradiomicsssl", batch, "--format", "csv", "--out", out, *args)
  assert result.returncode == 0, result.stderr[-3000:]
  return {row["ID"]: row for row in read_rows(out)}, result.stderr


def test_other_parameters_and_weights_recompute_every_case_and_say_why(pet_batch, tmp_path):
  batch, _ = pet_batch
  out_dir = tmp_path / "cases"
  pet, _ = extract(batch, tmp_path / "pet.csv", "--param", PARAMS / "ssl_pet.yaml", "--out-dir", out_dir)
  ct_on_pet = ("--param", PARAMS / "ssl_ct.yaml", "--setting", "sslUnitsCheck:false")  # CT weights, on purpose
  ct, message = extract(batch, tmp_path / "ct.csv", *ct_on_pet, "--out-dir", out_dir)
  fresh, _ = extract(batch, tmp_path / "fresh.csv", *ct_on_pet)
  assert "3 case(s) recomputed: settings changed (3)" in message and "weights changed (3)" in message
  for case in CASES:
    assert pet[case]["diagnostics_ssl_Weights"] == "pet-sts-siam3d"
    assert ct[case]["diagnostics_ssl_Weights"] == "ct-openkbp-siam3d"
    assert ct[case]["original_ssl_0"] == fresh[case]["original_ssl_0"] != pet[case]["original_ssl_0"]
  again, message = extract(batch, tmp_path / "again.csv", *ct_on_pet, "--out-dir", out_dir)
  assert "recomputed" not in message
  assert again == ct


def test_a_replaced_image_file_recomputes_that_case_only(pet_batch, tmp_path):
  batch, rows = pet_batch
  out_dir = tmp_path / "cases"
  args = ("--param", PARAMS / "ssl_pet.yaml", "--out-dir", out_dir)
  before, _ = extract(batch, tmp_path / "before.csv", *args)
  shutil.copy(rows[2]["Image"], rows[0]["Image"])  # STS_001's image is now STS_003's (same grid? not needed: recomputed)
  shutil.copy(rows[2]["Mask"], rows[0]["Mask"])
  after, message = extract(batch, tmp_path / "after.csv", *args)
  assert "1 case(s) recomputed: image file changed (1), mask file changed (1)" in message
  assert after["STS_001"]["original_ssl_0"] == before["STS_003"]["original_ssl_0"] != before["STS_001"]["original_ssl_0"]
  assert after["STS_002"] == before["STS_002"]


def test_reordered_rows_keep_their_own_values(pet_batch, tmp_path):
  batch, rows = pet_batch
  out_dir = tmp_path / "cases"
  args = ("--param", PARAMS / "ssl_pet.yaml", "--out-dir", out_dir)
  before, _ = extract(batch, tmp_path / "before.csv", *args)
  reordered = write_cases(tmp_path / "reordered.csv", rows[::-1])
  after, message = extract(reordered, tmp_path / "after.csv", *args)
  assert "recomputed" not in message
  assert [row["ID"] for row in read_rows(tmp_path / "after.csv")] == list(CASES[::-1])
  assert after == before
