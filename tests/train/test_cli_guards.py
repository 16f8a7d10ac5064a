"""The trainer does not overwrite a run, and checks that the cases look like --modality's units."""
import csv

from helpers import run
from radiomics_ssl.datasets import cohort_rows


def pet_csv(shared_data, path):
  rows = cohort_rows(shared_data, "sts-pet")[:3]
  with open(path, "w", newline="") as stream:
    writer = csv.DictWriter(stream, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def test_an_existing_run_is_not_overwritten_without_resume_or_force(synthetic_cohort, tmp_path):
  args = ["radiomics-ssl-train", synthetic_cohort, "--out", tmp_path / "run", "--method", "random", "--box", "16"]
  assert run(*args).returncode == 0
  weights = (tmp_path / "run" / "weights.safetensors").read_bytes()
  refused = run(*args, "--seed", "1")
  assert refused.returncode == 2
  assert f"{tmp_path / 'run'} already holds a run (" in refused.stderr and "weights.safetensors" in refused.stderr
  assert "--resume" in refused.stderr and "--force" in refused.stderr
  assert (tmp_path / "run" / "weights.safetensors").read_bytes() == weights
  forced = run(*args, "--seed", "1", "--force")
  assert forced.returncode == 0, forced.stderr[-2000:]
  assert (tmp_path / "run" / "weights.safetensors").read_bytes() != weights


def test_pet_cases_with_modality_ct_warn_and_strict_refuses(shared_data, tmp_path):
  cases = pet_csv(shared_data, tmp_path / "pet.csv")
  args = ["radiomics-ssl-train", cases, "--method", "random", "--box", "16", "--batch-size", "2", "--modality", "CT"]
  warned = run(*args, "--out", tmp_path / "a")
  assert warned.returncode == 0, warned.stderr[-2000:]
  assert "--modality CT, but 3 of the first 3 cases do not look like it" in warned.stderr
  assert "look like SUV (PET)" in warned.stderr
  strict = run(*args, "--out", tmp_path / "b", "--strict")
  assert strict.returncode == 1 and "--modality CT, but 3 of the first 3 cases" in strict.stderr
  assert not (tmp_path / "b" / "weights.safetensors").exists()
  quiet = run(*args, "--out", tmp_path / "c", "--strict", "--no-units-check")
  assert quiet.returncode == 0 and "do not look like it" not in quiet.stderr
  matching = run(*args[:-1], "PET", "--out", tmp_path / "d", "--strict")
  assert matching.returncode == 0 and "do not look like it" not in matching.stderr
