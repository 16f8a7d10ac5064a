"""The one batch runner: the two extraction stages (extract/batch.py) over a list of cases, in
input order, with a progress bar. Every command that extracts a batch calls it (`pyradiomicsssl`,
`radiomics-ssl-inspect`); what differs between them (an `--out-dir`, the worker count, the logging
of the workers) is passed in, never copied.

Worker policy: the per-case step runs in `jobs` `spawn` worker processes, each with
cpu_count / jobs SimpleITK threads. With the ssl class on, even one job runs in a worker process,
so that the torch import, the model load and every encoding (the encoder stage, on a thread of
this process) run beside the classical features instead of after them. Without ssl and with one
job, cases run in this process, as pyradiomics' own `--jobs 1`.
"""
import multiprocessing
import os
import sys
from dataclasses import dataclass

from radiomics_ssl.extract import _pyradiomics
from radiomics_ssl.extract.batch import EncoderStage, extract_case


@dataclass
class BatchResult:
  results: list  # batch.CaseResult per case, in input order
  encoder: object  # the inference.LoadedEncoder that ran (None without the ssl class)


def run_batch(cases, extractor, ssl, out_dir=None, jobs=1, ssl_batch=None, logging_config=None, desc="extract"):
  """cases: [(index, batch CSV row)]; extractor: a batch.CaseExtractor; ssl: its validated ssl
  settings or None -> BatchResult."""
  from tqdm import tqdm

  work = [(index, case, extractor, out_dir) for index, case in cases]
  stage = EncoderStage(ssl, out_dir, ssl_batch, extractor.settings.get("additionalInfo", True))
  progress = dict(total=len(work), desc=desc, unit="case", disable=None, file=sys.stderr)
  if jobs > 1 or ssl:
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)  # pyradiomics' own --jobs 1 uses every core
    with context.Pool(jobs, initializer=_pyradiomics.configure_worker, initargs=(logging_config, threads)) as pool:
      results = list(tqdm(stage.run(pool.imap(extract_case, work)), **progress))
  else:
    results = list(tqdm(stage.run(map(extract_case, work)), **progress))
  return BatchResult(results, stage.encoder)
