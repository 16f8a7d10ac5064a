"""pyradiomicsssl's two stages: a per-case step that computes the classical features and prepares
the encoder's input, and an encoder stage that encodes it and completes each case. With an
`--out-dir`, each completed case is stored with its provenance, and reused only while that
provenance matches (extract/resume.py).

Per-case step (`extract_case`, in the main process or in `--jobs` workers): pyradiomics' own
extraction by a `CaseExtractor`, which computes the classical classes and, in place of the ssl
class, prepares each ROI for the encoder (`preprocess.prepare_roi`); no model is loaded. Its
product is a `CaseResult`: the feature vector and the prepared ROIs whose columns are empty.

Encoder stage (`EncoderStage`, in the main process, on a background thread, so that the torch
import, the model load and every encoding overlap the next cases' classical features): encodes
the prepared ROIs, fills their columns and the ssl provenance, and writes the --out-dir file.
- One ROI at a time by default: on the CPU, bit-identical to the Python API's per-case path
  (same boxes, same batch of one, same fixed thread count).
- `batch` ROIs at a time (the default on CUDA): equal to the per-ROI path to float rounding.
"""
import collections
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Optional

from radiomics.featureextractor import RadiomicsFeatureExtractor

from radiomics_ssl.cases import CaseError, case_label, load_case
from radiomics_ssl.config import DEFAULT_CUDA_BATCH
from radiomics_ssl.extract import registration, resume
from radiomics_ssl.extract.featureclass import UNITS_COLUMN, enabled_columns, ssl_column
from radiomics_ssl.extract.registration import insert_after_diagnostics, provenance
from radiomics_ssl.preprocess import prepare_roi

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


class CaseExtractor(RadiomicsFeatureExtractor):
  """pyradiomics' extractor for the per-case step: the classical classes as pyradiomics computes
  them, and for the ssl class the encoder's input, prepared from the very image and mask pyradiomics
  hands a feature class; the encoder stage encodes it and adds the provenance.

  `contract` is the weights' preprocessing contract (None when the ssl class is not enabled)."""

  def __init__(self, *args, contract=None, **kwargs):
    super().__init__(*args, **kwargs)
    self.contract = contract
    self.fingerprint = None  # resume.run_fingerprint, set by build_case_extractor
    self._prepared = None  # [(image type, PreparedRoi)] of the case being extracted

  def computeFeatures(self, image, mask, imageTypeName, **kwargs):
    vector = registration.compute_without_ssl(self, image, mask, imageTypeName, **kwargs)
    if self._prepared is not None and registration.ssl_enabled(self, imageTypeName):
      self._prepared.append((imageTypeName, prepare_roi(image, mask, kwargs.get("label", 1), self.contract)))
      vector.update((column, None) for column in enabled_columns(self, imageTypeName))
    return vector

  def execute_case(self, image, mask, label, channel=None):
    """-> (feature vector with empty ssl columns, [(image type, PreparedRoi)])."""
    self._prepared = []
    try:
      return registration.stock_execute(self, image, mask, label, channel), self._prepared
    finally:
      self._prepared = None


def build_case_extractor(param_file, overrides, validate_only=False):
  """A CaseExtractor from a parameter file and validated overrides -> (extractor, ssl settings or None).
  The weights are verified here (sha256, contract); the model itself loads in the encoder stage."""
  from radiomics_ssl import weights
  from radiomics_ssl.extract.featureclass import FEATURE_CLASS
  from radiomics_ssl.extract.schema import ssl_settings

  extractor = CaseExtractor(param_file, **overrides)
  if FEATURE_CLASS not in extractor.enabledFeatures or validate_only:
    extractor.fingerprint = resume.run_fingerprint(extractor)
    return extractor, None
  ssl = ssl_settings(extractor.settings)
  loaded = weights.load(ssl["sslWeights"])
  if not ssl["sslModality"]:
    from radiomics_ssl.units import unset_modality_warning

    warning = unset_modality_warning(param_file or "settings", loaded)
    if warning:
      logger.warning("%s", warning)
  extractor.contract = loaded.contract
  extractor.fingerprint = resume.run_fingerprint(extractor, loaded.sha256)
  return extractor, ssl


def case_name(case, index):
  """How messages name a case: its ID column, else its row number and image file."""
  return str(case.get("ID")) if case.get("ID") else f"row {index} ({case.get('Image')})"


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
  try:
    label = case_label(case, default=extractor.settings.get("label", 1))
    channel = case.get("Label_channel")
    image, mask = load_case(case["Image"], case["Mask"], label, extractor.settings.get("correctMask", False))
    features, rois = extractor.execute_case(image, mask, label, int(channel) if channel else None)
  except (KeyboardInterrupt, SystemExit):
    raise
  except Exception as error:  # one bad case must not stop the batch; the command reports it once, with its files
    if not isinstance(error, CaseError):
      logger.debug("Traceback for %s", case_name(case, index), exc_info=True)
    message = f"{case_name(case, index)} (Image={case.get('Image')}, Mask={case.get('Mask')}): {error}"
    return CaseResult(index, vector, message, case=case, provenance=provenance, stale=stale)
  vector.update(features)
  return CaseResult(index, vector, rois=rois, case=case, provenance=provenance, stale=stale)


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
      self.batch = self.requested_batch or (DEFAULT_CUDA_BATCH if self.encoder.device.type == "cuda" else 1)

  def complete(self, chunk):
    """Encode the chunk's ROIs (one call per ROI unless batched), fill and store each case."""
    from radiomics_ssl.inference import numerics

    self.load()
    rois = [(result, image_type, prepared) for result in chunk for image_type, prepared in result.rois]
    values, failure = [], None
    if rois:
      try:
        prepared = [p for _, _, p in rois]
        values = (self.encoder.encode_rois(prepared) if self.batch > 1
                  else [self.encoder.encode_rois([p])[0] for p in prepared])
      except Exception as error:  # e.g. out of device memory: the chunk's cases fail, with the reason
        logger.error("encoding %d ssl ROI(s) failed: %s", len(rois), error)
        failure = str(error)
    for (result, image_type, _), features in zip(rois, values):  # the columns the case step left empty
      result.vector.update((column, value) for column, value in
                           ((ssl_column(image_type, i), value) for i, value in enumerate(features)) if column in result.vector)
    for result in chunk:
      if failure and result.rois and result.error is None:
        result.error = f"{case_name(result.case, result.index)} (Image={result.vector.get('Image')}): ssl encoding failed: {failure}"
        for image_type, _ in result.rois:  # no empty ssl columns in the output
          for key in [k for k in result.vector if k.startswith(ssl_column(image_type, ""))]:
            del result.vector[key]
      if result.error is None and not result.stored:
        notes = self.units_check(result)
        if self.ssl and self.additional_info:
          result.vector = insert_after_diagnostics(result.vector, provenance(self.encoder.weights, numerics(self.encoder), notes))
        if self.out_dir:
          resume.write(self.out_dir, result.case, result.vector, result.provenance)
    return chunk

  def units_check(self, result):
    """The units check of a case's original image (radiomics_ssl.units): its diagnostics column; a
    mismatch is added to the case's warnings, which the runner reports."""
    from radiomics_ssl.units import diagnostic

    original = [prepared for image_type, prepared in result.rois if image_type == "original"]
    if not self.ssl or not original:
      return {}
    value, warning = diagnostic(self.encoder.contract.modality, original[0].roi_percentiles, self.ssl["sslUnitsCheck"])
    if warning:
      result.warnings.append(f"{case_name(result.case, result.index)}: {warning}")
    return {UNITS_COLUMN: value}


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
