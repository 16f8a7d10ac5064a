"""The one batch runner: the two extraction stages (extract/batch.py) over a list of cases, in
input order, with a progress bar. Every command that extracts a batch calls it (`pyradiomicsssl`,
`radiomics-ssl-inspect`); what differs between them (an `--out-dir`, the worker count, the logging
of the workers, an executor of a cluster) is passed in, never copied.

Where the per-case step runs:
- by default in `jobs` worker processes (forked while the command has loaded neither torch nor a
  thread, else spawned: `start_method`), each with cpu_count / jobs SimpleITK threads, and the
  encoder on a thread of this process, started after the workers. With the ssl class on, even one job runs in a
  worker process, so that the torch import, the model load and every encoding run beside the
  classical features instead of after them. Without ssl and with one job, cases run in this
  process, as pyradiomics' own `--jobs 1`;
- with an `executor` (a `concurrent.futures.Executor`, such as Dask's `Client.get_executor()`),
  each task runs both stages for a chunk of `chunk` cases where it lands, with that process's
  own cached encoder (`batch.extract_and_complete`); this process only gathers the rows.
Either way the rows come back in input order, and each case's warnings are reported here, once.
"""
import contextlib
import logging
import multiprocessing
import os
import sys
from dataclasses import dataclass

from radiomics_ssl.extract import _pyradiomics
from radiomics_ssl.extract.batch import EncoderStage, extract_and_complete, extract_case

logger = logging.getLogger("radiomics.script")


@dataclass
class BatchResult:
  results: list  # batch.CaseResult per case, in input order
  encoder: object  # the inference.LoadedEncoder that ran here (None without the ssl class, or on a cluster)


def run_batch(cases, extractor, ssl, *, out_dir=None, jobs=1, ssl_batch=None, logging_config=None, desc="extract",
              executor=None, chunk=1):
  """cases: [(index, batch CSV row)]; extractor: a batch.CaseExtractor; ssl: its validated ssl
  settings or None -> BatchResult."""
  from tqdm import tqdm

  if out_dir:
    os.makedirs(out_dir, exist_ok=True)
  work = [(index, case, extractor, out_dir) for index, case in cases]
  progress = dict(total=len(work), desc=desc, unit="case", disable=None, file=sys.stderr)
  additional_info = extractor.settings.get("additionalInfo", True)
  if executor is not None:
    chunks = [work[start:start + chunk] for start in range(0, len(work), chunk)]
    done = executor.map(extract_and_complete, chunks, *zip(*[(ssl, out_dir, ssl_batch, additional_info)] * len(chunks)))
    return BatchResult(_reported(tqdm((r for results in done for r in results), **progress)), None)
  threads = max(1, (os.cpu_count() or 1) // jobs)  # pyradiomics' own --jobs 1 uses every core
  with worker_map(extract_case, work, jobs, in_process=not (jobs > 1 or ssl), initializer=_pyradiomics.configure_worker,
                  initargs=(logging_config, threads)) as cases_done:
    stage = EncoderStage(ssl, out_dir, ssl_batch, additional_info)  # after the workers exist: no thread is forked
    results = _reported(tqdm(stage.run(cases_done), **progress))
  return BatchResult(results, stage.encoder)


@contextlib.contextmanager
def worker_map(function, items, jobs, in_process=False, initializer=None, initargs=()):
  """`function` over `items` in `jobs` worker processes (or in this process), as an iterator of
  results in input order: the one place that runs a worker pool."""
  if in_process:
    yield map(function, items)
    return
  with multiprocessing.get_context(start_method()).Pool(jobs, initializer=initializer, initargs=initargs) as pool:
    yield pool.imap(function, items)


def start_method():
  """'fork' on Linux while this process is still only the command's own (no torch imported, no thread
  started: a fork copies what is loaded, so a worker starts in milliseconds instead of the 0.4 s of
  importing pyradiomics and SimpleITK again); 'spawn' otherwise, as in a program that already runs
  torch or threads, where a forked child can deadlock."""
  import threading

  if sys.platform.startswith("linux") and "torch" not in sys.modules and threading.active_count() == 1:
    return "fork"
  return "spawn"


def _reported(results):
  completed = []
  for result in results:
    for warning in result.warnings:
      logger.warning("%s", warning)
    completed.append(result)
  return completed
