"""Cohorts beyond one machine: array jobs (`--shard K/N`) and Dask (`--dask ADDRESS`).

Both run the one batch runner (extract/runner.py) and meet in `--out-dir`, whose per-case files
carry their provenance (extract/resume.py), so any mix of shards, cluster runs and a final local
run gives each case once, computed once, with the values `--jobs 1` gives.

- A shard is every N-th row of the batch CSV, from row K+1 (K in 0 ... N-1): a fixed partition,
  so N independent jobs (a Slurm array, one VM each) cover every case once. The first shard run
  writes `shards.json` to the out-dir with N and the batch's case list; a later shard run with
  another N, or of another batch, is refused, since its shards would overlap the earlier ones.
- `--dask ADDRESS` sends chunks of cases to a `dask.distributed` scheduler (`local:N` starts a
  LocalCluster of N single-threaded worker processes here). Each task runs both stages where it
  lands, with that worker's cached encoder, and writes its per-case files to the out-dir, which
  every worker must see. A task lost with a worker runs again elsewhere; its files are written
  atomically, so nothing is lost or duplicated.
"""
import contextlib
import hashlib
import json
import os
import re

SHARDS_FILE = "shards.json"
DASK_EXTRA = "pip install 'radiomics_ssl[dask]'"


class ClusterError(ValueError):
  """An unusable --shard or --dask argument, or shards that would overlap."""


def parse_shard(text):
  """'K/N' -> (K, N) with 0 <= K < N."""
  match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
  if not match:
    raise ClusterError(f"--shard {text!r}: expected K/N, e.g. 0/4 for the first of 4 shards")
  index, count = int(match.group(1)), int(match.group(2))
  if count < 1 or not 0 <= index < count:
    raise ClusterError(f"--shard {text!r}: the shard index must lie in 0 ... {count - 1} (K/N with 0 <= K < N)")
  return index, count


def shard_cases(cases, index, count):
  """The rows of shard `index` of `count`: cases [(row number from 1, row)] whose row number - 1 is
  `index` modulo `count`."""
  return [(number, case) for number, case in cases if (number - 1) % count == index]


def claim_shards(out_dir, count, cases):
  """Record (or check) how `out_dir`'s batch is sharded; raises ClusterError when an earlier shard
  run used another count or another batch."""
  identity = hashlib.sha256("\n".join(f"{case.get('Image')}|{case.get('Mask')}|{case.get('Label') or ''}"
                                      for _, case in cases).encode()).hexdigest()
  claim = {"count": count, "cases_sha256": identity, "n_cases": len(cases)}
  path = os.path.join(out_dir, SHARDS_FILE)
  try:
    with open(path, "x") as stream:
      json.dump(claim, stream, indent=1)
    return
  except FileExistsError:
    with open(path) as stream:
      earlier = json.load(stream)
  if earlier.get("count") != count:
    raise ClusterError(f"{path}: this out-dir was sharded into {earlier.get('count')}, not {count}: the shards would "
                       f"overlap; use a new --out-dir, or the same N")
  if earlier.get("cases_sha256") != identity:
    raise ClusterError(f"{path}: this out-dir was sharded for another batch ({earlier.get('n_cases')} cases); "
                       "use a new --out-dir for this batch CSV")


def worker_environment(config):
  """Dask's environment for new worker processes, without MALLOC_TRIM_THRESHOLD_: Dask sets it to
  64 KiB so that workers hand memory back, and glibc then trims on nearly every free, which made
  the per-case step 1.6x slower in a worker (115 against 73 ms per LIDC nodule, benchmarks/RESULTS.md)."""
  environment = dict(config.get("distributed.nanny.pre-spawn-environ", {}))
  environment.pop("MALLOC_TRIM_THRESHOLD_", None)
  return environment


@contextlib.contextmanager
def dask_executor(address, logging_config=None):
  """A concurrent.futures executor on the Dask scheduler at `address` ('local:N': a LocalCluster of N
  worker processes here), whose workers are set up as pyradiomics' own (one SimpleITK thread)."""
  try:
    import dask
    from distributed import Client, LocalCluster, WorkerPlugin
  except ImportError:
    raise ClusterError(f"--dask needs dask.distributed, which is not installed: {DASK_EXTRA}") from None

  class PyradiomicsWorker(WorkerPlugin):
    def setup(self, worker):
      from radiomics_ssl.extract import _pyradiomics

      _pyradiomics.configure_worker(logging_config, 1)

  local = re.fullmatch(r"local:(\d+)", address)
  cluster = None
  if local:
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(dask.config)}):
      cluster = LocalCluster(n_workers=int(local.group(1)), threads_per_worker=1, processes=True, dashboard_address=None)
  try:
    with Client(cluster if cluster is not None else address) as client:
      client.register_plugin(PyradiomicsWorker(), name="radiomics_ssl-worker")
      yield client.get_executor()
  finally:
    if cluster is not None:
      cluster.close()
