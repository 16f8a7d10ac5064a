"""Cohorts beyond one machine: --shard K/N and --dask give the CSV --jobs 1 gives, row for row and
bit for bit; a worker killed mid-batch loses nothing; bad cases and bad arguments are named."""
import os
import subprocess
import sys
import time

import pytest

from helpers import PARAMS, bad_cases, read_rows, run, write_cases
from radiomics_ssl.datasets import cohort_rows
from radiomics_ssl.extract.cluster import ClusterError, parse_shard, shard_cases

ARGS = ("--param", PARAMS / "ssl.yaml", "--format", "csv")


@pytest.fixture(scope="module")
def cases(shared_data, tmp_path_factory):
  """Six real cases (the five pyradiomics cases and one STS PET) and their --jobs 1 CSV."""
  rows = cohort_rows(shared_data, "pyradiomics") + cohort_rows(shared_data, "sts-pet")[:1]
  folder = tmp_path_factory.mktemp("cluster")
  batch = write_cases(folder / "batch.csv", rows)
  reference = run("pyradiomicsssl", batch, *ARGS, "--out", folder / "jobs1.csv")
  assert reference.returncode == 0, reference.stderr[-2000:]
  return batch, read_rows(folder / "jobs1.csv")


def same_rows(path, reference):
  rows = read_rows(path)
  assert [row["ID"] for row in rows] == [row["ID"] for row in reference]
  for row, expected in zip(rows, reference):
    assert row == expected  # every column, as text: bit-identical


def test_shards_then_assembly_give_the_jobs_1_csv(cases, tmp_path):
  batch, reference = cases
  out_dir = tmp_path / "per_case"
  for shard in ("0/2", "1/2"):
    result = run("pyradiomicsssl", batch, *ARGS, "--shard", shard, "--out-dir", out_dir, "--out", tmp_path / f"{shard[0]}.csv")
    assert result.returncode == 0, result.stderr[-2000:]
  assert [row["ID"] for row in read_rows(tmp_path / "0.csv")] == [row["ID"] for row in reference[0::2]]
  assembled = run("pyradiomicsssl", batch, *ARGS, "--out-dir", out_dir, "--out", tmp_path / "all.csv")
  assert assembled.returncode == 0 and "recomputed" not in assembled.stderr
  same_rows(tmp_path / "all.csv", reference)


def test_dask_local_cluster_gives_the_jobs_1_csv(cases, tmp_path):
  batch, reference = cases
  result = run("pyradiomicsssl", batch, *ARGS, "--dask", "local:2", "--out-dir", tmp_path / "d", "--out", tmp_path / "o.csv")
  assert result.returncode == 0, result.stderr[-3000:]
  same_rows(tmp_path / "o.csv", reference)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(cases, tmp_path):
  """A scheduler with two worker processes; once the first per-case file appears, one worker is killed."""
  from distributed import Client, LocalCluster

  batch, reference = cases
  out_dir = tmp_path / "d"
  with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
      Client(cluster) as client:
    command = [sys.executable, "-m", "radiomics_ssl.extract.cli", batch, *ARGS, "--dask", cluster.scheduler_address,
               "--out-dir", out_dir, "--out", tmp_path / "o.csv"]
    process = subprocess.Popen([str(c) for c in command], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(out_dir.glob("*.csv")) and time.time() < deadline and process.poll() is None:
      time.sleep(0.2)
    stored_at_kill = len(list(out_dir.glob("*.csv")))
    assert process.poll() is None and 0 < stored_at_kill < len(reference)  # mid-batch
    victim = list(client.scheduler_info()["workers"])[0]
    pids = client.run(os.getpid, workers=[victim])
    os.kill(pids[victim], 9)
    _, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]
  same_rows(tmp_path / "o.csv", reference)
  assert len(list(out_dir.glob("*.csv"))) == len(reference)


def test_a_bad_case_under_dask_is_named_and_the_others_complete(tmp_path):
  rows, problems = bad_cases(tmp_path)
  batch = write_cases(tmp_path / "bad.csv", [{"ID": name, "Image": image, "Mask": mask}
                                              for name, (image, mask) in rows.items()])
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_only.yaml", "--dask", "local:2",
               "--out-dir", tmp_path / "d", "--format", "csv", "--out", tmp_path / "o.csv")
  assert result.returncode == 1
  assert f"{len(problems)} of {len(rows)} case(s) failed" in result.stderr
  for name, problem in problems.items():
    assert f"\n  {name}" in result.stderr and problem in result.stderr
  assert [row["ID"] for row in read_rows(tmp_path / "o.csv")] == ["good", "good_again"]


def test_shard_arguments_and_overlapping_shards_are_errors(cases, tmp_path):
  assert parse_shard("1/4") == (1, 4)
  for bad in ("4/4", "-1/2", "1/0", "1", "a/b"):
    with pytest.raises(ClusterError, match="--shard"):
      parse_shard(bad)
  numbered = list(enumerate("abcdefg", start=1))
  shards = [shard_cases(numbered, k, 3) for k in range(3)]
  assert sorted(c for shard in shards for c in shard) == numbered  # every case once
  batch, _ = cases
  out_dir = tmp_path / "d"
  out_of_range = run("pyradiomicsssl", batch, *ARGS, "--shard", "2/2", "--out-dir", out_dir)
  assert out_of_range.returncode == 2 and "the shard index must lie in 0 ... 1" in out_of_range.stderr
  no_out_dir = run("pyradiomicsssl", batch, *ARGS, "--shard", "0/2")
  assert no_out_dir.returncode == 2 and "--shard needs --out-dir" in no_out_dir.stderr
  first = run("pyradiomicsssl", batch, *ARGS, "--shard", "0/3", "--out-dir", out_dir, "--out", tmp_path / "a.csv")
  assert first.returncode == 0, first.stderr[-2000:]
  overlap = run("pyradiomicsssl", batch, *ARGS, "--shard", "1/2", "--out-dir", out_dir, "--out", tmp_path / "b.csv")
  assert overlap.returncode == 2 and "was sharded into 3, not 2: the shards would overlap" in overlap.stderr


def test_dask_without_dask_names_the_extra(cases, tmp_path):
  blocker = tmp_path / "blocked"
  (blocker / "distributed").mkdir(parents=True)
  (blocker / "distributed" / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
  batch, _ = cases
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]))
  result = run("pyradiomicsssl", batch, *ARGS, "--dask", "local:2", "--out-dir", tmp_path / "d", env=env)
  assert result.returncode == 2, result.stderr[-2000:]
  assert "--dask needs dask.distributed, which is not installed: pip install 'radiomics_ssl[dask]'" in result.stderr
