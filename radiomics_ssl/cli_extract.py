"""`pyradiomicsssl`: the `pyradiomics` command line with the ssl feature class enabled.

It is pyradiomics' own `PyRadiomicsCommandLine` (same options, batch CSV handling and output
formats) with four changes: settings overrides are validated strictly against the extended
schema; the weights and device are checked once before any case runs; each failed case is
reported with its files while the others complete; and batches show a progress bar and run
in `spawn` workers that load the model lazily.

Batched encoding (`--ssl-batch N`, on by default on CUDA): the workers compute the classical
features and the ssl boxes on the CPU; the main process encodes the boxes N at a time on the
device while the workers run ahead (a prefetching pipeline), then writes each case.

Exit codes: 0 all cases extracted; 1 one or more cases failed (the others are written);
2 invalid parameters, settings, weights or device; 3 unexpected error.
"""
import collections
import copy
import csv
import logging
import multiprocessing
import os
import sys

import numpy as np
import radiomics
from radiomics.scripts import PyRadiomicsCommandLine, segment

import radiomics_ssl
from radiomics_ssl.cases import CaseError, case_label, load_case
from radiomics_ssl.featureclass import DEFER_KEY, take_deferred

logger = logging.getLogger("radiomics.script")


DEFAULT_CUDA_BATCH = 32


class SettingsError(ValueError):
  """Parameters or settings that cannot be used; reported once, exit code 2."""


class SSLCommandLine(PyRadiomicsCommandLine):

  def __init__(self, custom_arguments=None):
    super().__init__(custom_arguments)
    self.failures = []
    self.ssl_batch = 0

  @classmethod
  def getParser(cls):
    parser = super().getParser()
    parser.prog = "pyradiomicsssl"
    for action in parser._actions:
      if action.dest == "version":
        action.version = f"pyradiomicsssl {radiomics_ssl.__version__} (pyradiomics {radiomics.__version__})"
    parser.add_argument("--ssl-batch", type=int, default=None, metavar="N",
                        help="Encode ssl boxes N at a time in the main process while the workers compute classical "
                             "features (default: %d on CUDA, 0 = per case on CPU)." % DEFAULT_CUDA_BATCH)
    return parser

  def run(self):
    try:
      self.extractor = self._buildExtractor()
    except (SettingsError, ValueError, RuntimeError) as error:
      logger.error("%s", error)
      return 2
    code = super().run()
    if code == 0 and self.failures:
      logger.error("%d of %d case(s) failed:\n  %s", len(self.failures), self.case_count, "\n  ".join(self.failures))
      return 1
    return code

  def _buildExtractor(self):
    """Validate the parameter file, the overrides, the weights and the device once, up front."""
    import pykwalify.errors

    if self.args.mode != "segment":
      raise SettingsError(f"--mode {self.args.mode}: pyradiomicsssl extracts per ROI (segment mode) only; "
                          "use the pyradiomics command line for voxel-based feature maps")
    try:
      overrides = self._parseOverrides()
      extractor = radiomics.featureextractor.RadiomicsFeatureExtractor(self.args.param, **overrides)
    except (pykwalify.errors.PyKwalifyException, IOError) as error:
      raise SettingsError(f"{self.args.param or 'settings'}: parameter validation failed: {error}") from None
    if "ssl" in extractor.enabledFeatures and not self.args.validate:
      from radiomics_ssl import inference, weights
      from radiomics_ssl.schema import ssl_settings

      ssl = ssl_settings(extractor.settings)
      weights.load(ssl["sslWeights"])  # verifies the sha256 once, before any case runs
      device = inference.resolve_device(ssl["sslDevice"])  # CUDA asked for but absent fails here
      self.ssl_batch = self.args.ssl_batch if self.args.ssl_batch is not None else (
        DEFAULT_CUDA_BATCH if device.type == "cuda" else 0)
      if self.ssl_batch < 0:
        raise SettingsError(f"--ssl-batch {self.ssl_batch}: must be >= 0")
    return extractor

  def _parseOverrides(self):
    """`--setting KEY:VALUE` typed by the extended schema, as pyradiomics does; an unknown key or an
    unparsable value is an error here, not a warning. (pyradiomics 3.0.1's own parser also fails
    on current ruamel.yaml, which no longer has `safe_load`.)"""
    import pykwalify.errors
    import yaml

    from radiomics_ssl.schema import validate_settings

    schema_file, _ = radiomics.getParameterValidationFiles()
    with open(schema_file) as stream:
      known = yaml.safe_load(stream)["mapping"]["setting"]["mapping"]
    overrides = {}
    for setting in self.args.setting:
      key, _, value = setting.partition(":")
      if not _ or key not in known:
        raise SettingsError(f"--setting {setting!r}: unknown setting {key!r} (expected KEY:VALUE with a pyradiomics "
                            "or ssl setting)")
      rule = known[key]
      item_type = (rule["seq"][0].get("type", "str") if "seq" in rule else rule.get("type", "str"))
      try:
        parsed = [_parse_value(v, item_type) for v in value.split(",")]
      except ValueError:
        raise SettingsError(f"--setting {setting!r}: {value!r} is not of type {item_type}") from None
      overrides[key] = parsed if "seq" in rule else parsed[0]
    if self.args.label is not None:
      overrides["label"] = self.args.label
    try:
      validate_settings(overrides)
    except pykwalify.errors.PyKwalifyException as error:
      raise SettingsError(f"--setting: {error}") from None
    return overrides

  def _processCases(self, case_generator):
    from tqdm import tqdm

    cases = list(case_generator)
    if self.args.out_dir is not None:
      os.makedirs(self.args.out_dir, exist_ok=True)
    progress = dict(total=len(cases), desc="pyradiomicsssl", unit="case", disable=None, file=sys.stderr)
    extractor, out_dir = self.extractor, self.args.out_dir
    batched = BatchedEncoder(extractor, self.ssl_batch, out_dir) if self.ssl_batch else None
    if batched:  # workers prepare the boxes on the CPU; this process encodes them
      extractor = copy.deepcopy(extractor)
      extractor.settings.update({"sslDevice": "cpu", DEFER_KEY: True})
    jobs = [(index, case, extractor, out_dir, bool(batched)) for index, case in cases]
    if self.num_workers > 1:
      context = multiprocessing.get_context("spawn")
      with context.Pool(self.num_workers, initializer=_init_worker, initargs=(self.logging_config,)) as pool:
        outcomes = self._collect(tqdm(pool.imap(_extract_star, jobs), **progress), cases, batched)
    else:
      outcomes = self._collect(tqdm((extract_case(*job) for job in jobs), **progress), cases, batched)
    self.failures = [error for _, error, _ in outcomes if error]
    return _pad_failed([vector for vector, _, _ in outcomes], [error for _, error, _ in outcomes]) or None

  @staticmethod
  def _collect(outcomes, cases, batched):
    return list(batched.run(zip([index for index, _ in cases], outcomes)) if batched else outcomes)


class BatchedEncoder:
  """Fills deferred ssl values: encodes the boxes of consecutive cases `batch` at a time."""

  def __init__(self, extractor, batch, out_dir):
    from radiomics_ssl.inference import get_encoder_for
    from radiomics_ssl.schema import ssl_settings

    self.encoder = get_encoder_for(ssl_settings(extractor.settings))
    self.batch, self.out_dir = batch, out_dir
    self.settings = copy.deepcopy(extractor.settings)  # as the user gave them, not the workers' copy

  def _restore_provenance(self, vector):
    """The workers ran with sslDevice cpu and the defer flag: report what actually encoded."""
    if "diagnostics_ssl_Device" in vector:
      from radiomics_ssl.inference import numerics

      vector.update((f"diagnostics_ssl_{name}", value) for name, value in numerics(self.encoder).items())
    if "diagnostics_Configuration_Settings" in vector:
      vector["diagnostics_Configuration_Settings"] = self.settings

  def run(self, outcomes):
    """outcomes: (case index, (vector, error, boxes)) in order -> (vector, error, []) with the ssl
    values filled in and, with --out-dir, each completed case written."""
    pending = []
    for outcome in outcomes:
      pending.append(outcome)
      if sum(len(boxes) for _, (_, _, boxes) in pending) >= self.batch:
        yield from self._flush(pending)
        pending = []
    yield from self._flush(pending)

  def _flush(self, pending):
    boxes = [box for _, (_, _, case_boxes) in pending for _, box in case_boxes]
    try:
      features = iter(self.encoder.encode_rois(boxes) if boxes else [])
    except Exception as failure:  # e.g. out of device memory: every case of the batch fails, with the reason
      logger.error("encoding a batch of %d ssl box(es) failed: %s", len(boxes), failure)
      features = None
    for index, (vector, error, case_boxes) in pending:
      if case_boxes and features is None:
        error = error or f"case {index} (Image={vector.get('Image')}): batched ssl encoding failed (see the log)"
        for key in [key for key in vector if any(key.startswith(f"{t}_ssl_") for t, _ in case_boxes)]:
          del vector[key]  # no placeholder values in the output
        case_boxes = []
      for image_type, _ in case_boxes:
        values = next(features)
        vector.update((f"{image_type}_ssl_{i}", value) for i, value in enumerate(values))
        if error is None and not np.isfinite(values).all():
          error = f"case {index} (Image={vector.get('Image')}): the encoder produced non-finite ssl features"
          logger.error("%s", error)
      if case_boxes and error is None:
        self._restore_provenance(vector)
        _store(case_file(self.out_dir, index), vector)
      yield vector, error, []


def case_file(out_dir, case_index):
  return os.path.join(out_dir, f"features_{case_index}.csv") if out_dir else None


def extract_case(case_index, case, extractor, out_dir=None, deferred=False):
  """Extract one case -> (feature vector, error message or None, deferred ssl boxes). Never raises
  for a bad case.

  The label comes from the batch CSV's `Label` column, else from the settings, as in pyradiomics.
  With `out_dir`, results go to `features_<case_index>.csv` (written atomically) and an existing
  file is reused, so an interrupted batch resumes where it stopped (pyradiomics' convention).
  Failed cases are not stored, so a re-run retries them. With `deferred`, the ssl values are
  placeholders, the boxes are returned, and the caller stores the case once it has encoded them.
  """
  filename = case_file(out_dir, case_index)
  if filename and os.path.isfile(filename):
    with open(filename, newline="") as stream:
      return next(csv.DictReader(stream)), None, []
  vector = collections.OrderedDict(case)
  take_deferred()  # nothing left over from an earlier case in this process
  try:
    label = case_label(case, default=extractor.settings.get("label", 1))
    channel = case.get("Label_channel")
    image, mask = load_case(case["Image"], case["Mask"], label, extractor.settings.get("correctMask", False))
    vector.update(extractor.execute(image, mask, label, int(channel) if channel else None))
  except (KeyboardInterrupt, SystemExit):
    raise
  except Exception as error:  # one bad case must not stop the batch; it is reported with its files
    message = f"case {case_index} (Image={case.get('Image')}, Mask={case.get('Mask')}): {error}"
    if not isinstance(error, CaseError):
      logger.debug("Traceback for case %s", case_index, exc_info=True)
    logger.error("%s", message)
    return vector, message, []
  boxes = take_deferred()
  if not (deferred and boxes):
    _store(filename, vector)
  return vector, None, boxes


def _store(filename, vector):
  """Write one case's row atomically (nothing without --out-dir)."""
  if not filename:
    return
  with open(filename + ".tmp", "w", newline="") as stream:
    writer = csv.DictWriter(stream, fieldnames=list(vector), lineterminator="\n")
    writer.writeheader()
    writer.writerow(vector)
  os.replace(filename + ".tmp", filename)


def _pad_failed(vectors, errors):
  """Give failed cases the columns of the first extracted case (empty values), so the output's
  column order follows that case even when case 1 failed (pyradiomics sorts extra columns)."""
  template = next((v for v, e in zip(vectors, errors) if not e), None)
  if template is None:
    return vectors
  return [collections.OrderedDict((key, vector.get(key)) for key in list(vector) + [k for k in template if k not in vector])
          if error else vector for vector, error in zip(vectors, errors)]


def _parse_value(value, value_type):
  if value_type == "int":
    return int(value)
  if value_type == "float":
    return float(value)
  if value_type == "bool":
    return value == "1" or value.lower() == "true"
  return value


def _init_worker(logging_config):
  segment._configureParallelExtraction(logging_config)  # pyradiomics' worker logging and 1 SimpleITK thread


def _extract_star(job):
  return extract_case(*job)


def main(argv=None):
  try:
    return SSLCommandLine(argv).run()
  except Exception as error:  # mirrors pyradiomics' parse_args
    logging.getLogger().error("Error executing pyradiomicsssl!", exc_info=True)
    print(f"Error executing pyradiomicsssl!\n{error}")
    return 4


if __name__ == "__main__":
  sys.exit(main())
