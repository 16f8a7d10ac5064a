"""pyradiomicsssl's two stages, on the one road to a row (extract/row.py): a per-case step that
computes the classical features and prepares the encoder's input, and an encoder stage that encodes
it and completes each case. With an `--out-dir`, each completed case is stored with its provenance,
and reused only while that provenance matches (extract/resume.py).

Per-case step (`extract_case`, in the main process or in `--jobs` workers): `row.prepare_case`
(the units check, pyradiomics' own extraction, the ssl class's input); no model is loaded. Its
product is a `CaseResult`: the feature vector and the prepared ROIs whose columns are empty.

Encoder stage (`EncoderStage`, in the main process, on a background thread, so that the torch
import, the model load and every encoding overlap the next cases' classical features): encodes
the prepared ROIs, completes the row (`row.complete_row`), and writes the --out-dir file.
- One ROI at a time by default: on the CPU, bit-identical to the Python API, which encodes the same
  way (`LoadedEncoder.encode_each`).
- `batch` ROIs at a time (the default on CUDA): equal to the per-ROI path to float rounding.
"""
import collections
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Optional

from radiomics.featureextractor import RadiomicsFeatureExtractor

from radiomics_ssl.cases import CaseError, dicom_diagnostics, load_row
from radiomics_ssl.config import INPUT_DEFAULTS
from radiomics_ssl.extract import resume, row
from radiomics_ssl.tables import ssl_column

logger = logging.getLogger("radiomics.script")


@dataclass
class CaseResult:
  index: int
  vector: collections.OrderedDict
  error: Optional[str] = None
  rois: list = field(default_factory=list)  # (image type, PreparedRoi) whose ssl columns await the encoder
  stored: bool = False  # read back from --out-dir, complete as it is
  case: dict = field(default_factory=dict)  # the batch CSV row
  provenance: Optional[dict] = None  # what made this row (--out-dir only; extract/resume.py)
  stale: list = field(default_factory=list)  # why a stored row was not reused ([] when none was found)
  warnings: list = field(default_factory=list)  # one line each, naming the case; the runner reports them
  units: Optional[str] = None  # the diagnostics_ssl_Units value of the case (row.prepare_case)


class CaseExtractor(RadiomicsFeatureExtractor):
  """pyradiomics' extractor for the per-case step, carrying what the step needs beside the
  settings: the weights' preprocessing `contract` and the validated `ssl` settings (both None when
  the ssl class is not enabled), and the run's `fingerprint` (resume.run_fingerprint)."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.contract = self.ssl = self.fingerprint = None


def build_case_extractor(param_file, overrides, validate_only=False):
  """A CaseExtractor from a parameter file and validated overrides -> (extractor, ssl settings or None).
  The opt-in (`register()`) comes first: the schema must know the ssl settings. The weights are
  verified here (sha256, contract); the model itself loads in the encoder stage."""
  from radiomics_ssl import weights
  from radiomics_ssl.extract.registration import register
  from radiomics_ssl.units import unset_modality_warning

  register()
  extractor = CaseExtractor(param_file, **overrides)
  if row.FEATURE_CLASS not in extractor.enabledFeatures or validate_only:
    extractor.fingerprint = resume.run_fingerprint(extractor)
    return extractor, None
  ssl = row.ssl_enabled(extractor)
  loaded = weights.load(ssl["sslWeights"])
  if not ssl["sslModality"]:
    warning = unset_modality_warning(param_file or "settings", loaded)
    if warning:
      logger.warning("%s", warning)
  extractor.contract, extractor.ssl = loaded.contract, ssl
  extractor.fingerprint = resume.run_fingerprint(extractor, loaded.sha256)
  return extractor, ssl


def case_name(case, index):
  """How messages name a case: its ID column, else its row number and image file."""
  return str(case.get("ID")) if case.get("ID") else f"row {index} ({case.get('Image')})"


def failure_message(case, index, error):
  """One line naming the case, its files once, and the problem."""
  name = case.get("ID") or f"row {index}"
  files = [case.get(column) for column in ("Image", "Mask") if case.get(column)]
  if any(path in str(error) for path in files):  # cases.py's errors name the file at fault
    return f"{name}: {error}"
  return f"{name} (Image={case.get('Image')}, Mask={case.get('Mask')}): {error}"


def extract_case(job):
  """The per-case step: job = (case index, batch CSV row, CaseExtractor, out_dir) -> CaseResult.
  Never raises for a bad case: the error names the case and its files. The label comes from the
  row's `Label` column, else from the settings, as in pyradiomics. A case stored in --out-dir is
  read back when its provenance matches, and recomputed (with the reasons) when not."""
  index, case, extractor, out_dir = job
  provenance, stale = None, []
  if out_dir:
    provenance = resume.case_provenance(case, extractor.fingerprint or {})
    stored, stored_provenance = resume.read(out_dir, case)
    if stored is not None or stored_provenance is not None:
      stale = resume.reasons(stored_provenance, provenance) if stored is not None else ["row file missing"]
      if stored is not None and not stale:
        return CaseResult(index, stored, stored=True, case=case)
  vector = collections.OrderedDict(case)
  name = case_name(case, index)
  try:
    channel = case.get("Label_channel")
    image, mask, label, info = load_row(case, extractor.settings.get("label", 1), extractor.settings.get("correctMask", False),
                                        extractor.settings.get("dicomSUV", INPUT_DEFAULTS["dicomSUV"]))
    prepared = row.prepare_case(extractor, extractor.ssl, extractor.contract, image, mask, label,
                                int(channel) if channel else None, source=name, inputs=dicom_diagnostics(info))
  except (KeyboardInterrupt, SystemExit):
    raise
  except Exception as error:  # one bad case must not stop the batch; the command reports it once, with its files
    if not isinstance(error, CaseError):
      logger.debug("Traceback for %s", name, exc_info=True)
    return CaseResult(index, vector, failure_message(case, index, error), case=case, provenance=provenance, stale=stale)
  vector.update(prepared.vector)
  return CaseResult(index, vector, rois=prepared.rois, case=case, provenance=provenance, stale=stale,
                    warnings=prepared.warnings, units=prepared.units)


class EncoderFailure(RuntimeError):
  """The encoder stage cannot go on (the encoder could not be loaded, or a case could not be stored):
  no further case can be completed (exit code 2)."""


class Completer:
  """Completes CaseResults: encodes their prepared ROIs, fills the ssl columns, adds the provenance
  and the units check, and writes each --out-dir file. The encoder is loaded on first use, in the
  process that completes (the main process, or a Dask worker).

  ssl: validated ssl settings, or None when the ssl class is not enabled (cases are only stored).
  batch: ROIs per encoder call (None: 1 on the CPU, DEFAULT_CUDA_BATCH on CUDA)."""

  def __init__(self, ssl, out_dir, batch=None, additional_info=True):
    self.ssl, self.out_dir, self.requested_batch, self.additional_info = ssl, out_dir, batch, additional_info
    self.encoder, self.batch = None, batch or 1

  def load(self):
    """Load the encoder (raises EncoderFailure when it cannot be)."""
    from radiomics_ssl.inference import get_encoder_for

    if self.ssl and self.encoder is None:
      try:
        self.encoder = get_encoder_for(self.ssl)
      except Exception as error:  # e.g. a weights file of another architecture, or CUDA missing
        raise EncoderFailure(str(error)) from None
      self.batch = self.requested_batch or self.encoder.default_batch

  def complete(self, chunk):
    """Encode the chunk's ROIs (one call per ROI unless batched), complete and store each case."""
    self.load()
    rois = [(result, prepared) for result in chunk for _, prepared in result.rois]
    values, failure = [], None
    if rois:
      try:
        values = self.encoder.encode_each([prepared for _, prepared in rois], self.batch)
      except Exception as error:  # e.g. out of device memory: the chunk's cases fail, with the reason
        logger.error("encoding %d ssl ROI(s) failed: %s", len(rois), error)
        failure = str(error)
    features = collections.defaultdict(list)
    for (result, _), value in zip(rois, values):
      features[id(result)].append(value)
    for result in chunk:
      if failure and result.rois and result.error is None:
        result.error = f"{case_name(result.case, result.index)} (Image={result.vector.get('Image')}): ssl encoding failed: {failure}"
        for image_type, _ in result.rois:  # no empty ssl columns in the output
          for key in [k for k in result.vector if k.startswith(ssl_column(image_type, ""))]:
            del result.vector[key]
      if result.error is None and not result.stored:
        if self.ssl:
          result.vector = row.complete_row(result.vector, result.rois, features[id(result)], result.units, self.encoder,
                                           self.additional_info)
        if self.out_dir:
          resume.write(self.out_dir, result.case, result.vector, result.provenance)
    return chunk


_completers = {}  # per process: (ssl settings, out_dir, batch, additional_info) -> Completer


def extract_and_complete(jobs, ssl, out_dir, batch=None, additional_info=True):
  """Both stages in one process, for a chunk of per-case jobs (a Dask task): -> completed
  CaseResults, without their prepared boxes (nothing large travels back)."""
  key = (tuple(sorted((k, str(v)) for k, v in (ssl or {}).items())), out_dir, batch, additional_info)
  completer = _completers.setdefault(key, Completer(ssl, out_dir, batch, additional_info))
  results = completer.complete([extract_case(job) for job in jobs])
  for result in results:
    result.rois = [(image_type, None) for image_type, _ in result.rois]
  return results


class EncoderStage:
  """Runs a Completer on its own thread, so that the torch import, the model load and every
  encoding overlap the next cases' classical features. Batches are greedy: the thread takes the
  cases that are waiting, up to `batch` ROIs, so it never waits for a batch to fill."""

  def __init__(self, ssl, out_dir, batch=None, additional_info=True):
    self.completer = Completer(ssl, out_dir, batch, additional_info)
    self._inbox, self._outbox = queue.Queue(), queue.Queue()
    self._thread = threading.Thread(target=self._work, name="ssl-encoder", daemon=True)
    self._thread.start()  # the torch import and the model load start now, beside the first cases

  @property
  def encoder(self):
    return self.completer.encoder

  def run(self, results):
    """CaseResults in case order -> the same CaseResults, completed, in the same order."""
    sent = received = 0
    try:
      for result in results:
        self._inbox.put(result)
        sent += 1
        while received < sent and not self._outbox.empty():
          received += 1
          yield self._take(self._outbox.get())
      self._inbox.put(None)
      while received < sent:
        received += 1
        yield self._take(self._outbox.get())
    finally:
      self._inbox.put(None)  # ends the thread if the consumer stopped early

  @staticmethod
  def _take(item):
    if isinstance(item, EncoderFailure):
      raise item
    return item

  def _work(self):
    failure = None
    try:
      self.completer.load()
    except EncoderFailure as error:
      failure = error
    finished = False
    while not finished:
      chunk = [self._inbox.get()]
      finished = chunk[0] is None
      while (not finished and self.completer.batch > 1 and sum(len(r.rois) for r in chunk) < self.completer.batch
             and not self._inbox.empty()):
        chunk.append(self._inbox.get())
        finished = chunk[-1] is None
      chunk = [result for result in chunk if result is not None]
      if not failure and chunk:
        try:
          completed = self.completer.complete(chunk)
        except Exception as error:  # e.g. an --out-dir that cannot be written: stop the batch, never hang it
          logger.debug("encoder stage failed", exc_info=True)
          failure = EncoderFailure(f"the encoder stage failed: {error}")
        else:
          for item in completed:
            self._outbox.put(item)
      if failure:
        for _ in chunk:
          self._outbox.put(failure)
