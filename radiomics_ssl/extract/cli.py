"""`pyradiomicsssl`: the `pyradiomics` command line with the ssl feature class enabled.

It is pyradiomics' own `PyRadiomicsCommandLine` (same options, batch CSV handling and output
formats) with four changes: settings overrides are validated strictly against the extended
schema; the weights and device are checked once before any case runs; each failed case is
reported with its files while the others complete; and the cases run in two stages
(extract/batch.py): the classical features and the encoder's input per case (in `spawn` workers
with `--jobs`), and the encoder on a thread of the main process, overlapping them.

Exit codes: 0 all cases extracted; 1 one or more cases failed (the others are written);
2 invalid parameters, settings, weights or device; 3 unexpected error; 4 crash.
"""
import contextlib
import difflib
import gc
import io
import logging
import os
import re
import sys

import radiomics

import radiomics_ssl
from radiomics_ssl.extract import _pyradiomics, output, resume
from radiomics_ssl.config import DEFAULT_CUDA_BATCH, INPUT_DEFAULTS
from radiomics_ssl.extract.batch import EncoderFailure, build_case_extractor
from radiomics_ssl.extract.cluster import ClusterError, claim_shards, dask_executor, parse_shard, shard_cases
from radiomics_ssl.extract.runner import run_batch

logger = logging.getLogger("radiomics.script")


class SettingsError(ValueError):
  """Parameters or settings that cannot be used; reported once, exit code 2."""


class SSLCommandLine(_pyradiomics.PyRadiomicsCommandLine):

  def __init__(self, custom_arguments=None):
    super().__init__(custom_arguments)
    self.failures = []
    self.ssl = None  # validated ssl settings when the ssl class is enabled
    self.shard = None  # (K, N) of --shard
    self.fatal = None  # an EncoderFailure or ClusterError that stopped the batch (exit code 2)
    self.out_error = None  # an output.OutputError: --out refused (exit code 2 before, 1 after extraction)

  @classmethod
  def getParser(cls):
    parser = super().getParser()
    parser.prog = "pyradiomicsssl"
    _pyradiomics.set_out_to_path(parser, "File to write the output to. A CSV is appended to only when its header is the "
                                         "run's, and never with rows of cases it already holds; a failed case is not written.")
    _pyradiomics.set_version_text(parser, f"pyradiomicsssl {radiomics_ssl.__version__} (pyradiomics {radiomics.__version__})")
    parser.add_argument("--roi", default=None, metavar="NAME",
                        help="The structure of an RTSTRUCT mask, or the segment label of a DICOM-SEG mask (exact name, "
                             "case-insensitive), for a case whose batch CSV row has no ROI column.")
    parser.add_argument("--series-uid", default=None, metavar="UID",
                        help="The SeriesInstanceUID of the image series, when the image folder holds several.")
    parser.add_argument("--ssl-batch", type=int, default=None, metavar="N",
                        help="Encode N ssl ROIs per encoder call (default: 1 on the CPU, where the values are then "
                             "bit-identical whatever --jobs; %d on CUDA)." % DEFAULT_CUDA_BATCH)
    parser.add_argument("--shard", default=None, metavar="K/N",
                        help="Extract only shard K of N (every N-th row from row K+1; K from 0) into --out-dir, e.g. "
                             "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; a later run without --shard assembles the CSV.")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="Run the batch on a dask.distributed scheduler (tcp://host:port), or on a LocalCluster of "
                             "N worker processes (local:N); needs --out-dir on a filesystem every worker sees.")
    return parser

  def run(self):
    try:
      if self.args.input.lower().endswith(".csv") and not os.path.isfile(self.args.input):
        raise SettingsError(f"{self.args.input}: batch CSV does not exist")
      self.extractor = self._buildExtractor()
    except (SettingsError, ClusterError, ValueError, RuntimeError) as error:
      logger.error("%s", error)
      return 2
    code = super().run()
    if self.out_error is not None:
      logger.error("%s", self.out_error)
      return 2 if self.out_error.before_extraction else 1
    if self.fatal is not None:  # raised inside pyradiomics' run(), which would report any error as a crash
      logger.error("%s", self.fatal)
      return 2
    if code == 0 and self.failures:
      what = "failed validation" if self.args.validate else "failed"
      logger.error("%d of %d case(s) %s:\n  %s", len(self.failures), self.case_count, what, "\n  ".join(self.failures))
      return 1
    return code

  def _buildExtractor(self):
    """Validate the parameter file, the overrides and the weights (sha256, contract) once, up front;
    a CUDA device asked for by name is checked here too. The model itself loads in the encoder stage."""
    import pykwalify.errors

    if self.args.mode != "segment":
      raise SettingsError(f"--mode {self.args.mode}: pyradiomicsssl extracts per ROI (segment mode) only; "
                          "use the pyradiomics command line for voxel-based feature maps")
    if self.args.ssl_batch is not None and self.args.ssl_batch < 1:
      raise SettingsError(f"--ssl-batch {self.args.ssl_batch}: must be >= 1")
    if self.args.shard is not None:
      self.shard = parse_shard(self.args.shard)
    if (self.args.shard or self.args.dask) and not self.args.out_dir:
      raise SettingsError(f"{'--shard' if self.args.shard else '--dask'} needs --out-dir, where the per-case files meet")
    try:
      extractor, self.ssl = build_case_extractor(self.args.param, self._parseOverrides(), self.args.validate)
    except (pykwalify.errors.PyKwalifyException, IOError) as error:
      raise SettingsError(f"{self.args.param or 'settings'}: parameter validation failed: {schema_message(error)}") from None
    except Exception as error:  # ruamel.yaml's and PyYAML's syntax errors name the line and column
      if type(error).__module__.split(".")[0] not in ("ruamel", "yaml"):
        raise
      raise SettingsError(f"{self.args.param}: not valid YAML: {' '.join(str(error).split())}") from None
    if self.ssl and self.ssl["sslDevice"] not in ("auto", "cpu"):
      from radiomics_ssl.inference import resolve_device

      resolve_device(self.ssl["sslDevice"])  # CUDA asked for but absent fails here
    return extractor

  def _parseOverrides(self):
    return parse_overrides(self.args.setting, self.args.label)

  def _validateCases(self, case_generator):
    """--validate: every case's files, label, geometry and ROI values are checked as extraction
    would (radiomics_ssl.cases.load_case), without extracting; a problem is reported and exits 1."""
    from radiomics_ssl.cases import CaseError, load_row
    from radiomics_ssl.extract.batch import case_name

    checked = 0
    for index, case in self._with_dicom_options(case_generator):
      checked += 1
      try:
        settings = self.extractor.settings
        load_row(case, settings.get("label", 1), settings.get("correctMask", False), settings.get("dicomSUV", INPUT_DEFAULTS["dicomSUV"]))
      except CaseError as error:
        self.failures.append(f"{case_name(case, index)}: {error}")
    logger.warning("Validated %d case(s): %d with a problem", checked, len(self.failures))

  def _processCases(self, case_generator):
    """pyradiomics' case loop (a private name: see _pyradiomics.CASE_LOOP): the one batch runner."""
    try:
      return self._runCases(list(self._with_dicom_options(case_generator)))
    except (EncoderFailure, ClusterError) as error:
      self.fatal = error
      return None

  def _path_formatter(self):
    """How pyradiomics' writer formats the Image and Mask columns (--format-path)."""
    if self.args.format_path == "relative":
      return lambda path: os.path.relpath(path, start=self.relative_path_start)
    return os.path.basename if self.args.format_path == "basename" else os.path.abspath

  def _with_dicom_options(self, cases):
    """--roi and --series-uid fill the ROI and SeriesInstanceUID of a case that does not name them."""
    for index, case in cases:
      for column, value in (("ROI", self.args.roi), ("SeriesInstanceUID", self.args.series_uid)):
        if value and not case.get(column):
          case[column] = value
      yield index, case

  def _processOutput(self, results):
    """pyradiomics' writer, into a buffer; then --out takes it as output.write allows."""
    if not results:  # nothing to write when the batch stopped (self.fatal) or no case was extracted
      return
    if not isinstance(self.args.out, str):  # standard output
      return super()._processOutput(results)
    target, self.args.out = self.args.out, io.StringIO()
    try:
      super()._processOutput(results)
      output.write(target, self.args.out.getvalue(), self.args.format)
    except output.OutputError as error:
      self.out_error = error
    finally:
      self.args.out = target

  def _runCases(self, cases):
    if isinstance(self.args.out, str):
      try:
        output.check_no_duplicates(self.args.out, [case for _, case in cases], self._path_formatter())
      except output.OutputError as error:
        self.out_error = error
        return None
    if self.args.out_dir is not None:
      os.makedirs(self.args.out_dir, exist_ok=True)
    if self.shard is not None:
      claim_shards(self.args.out_dir, self.shard[1], cases)
      cases = shard_cases(cases, *self.shard)
      self.case_count = len(cases)
    with (dask_executor(self.args.dask, self.logging_config) if self.args.dask else contextlib.nullcontext()) as executor:
      outcomes = run_batch(cases, self.extractor, self.ssl, out_dir=self.args.out_dir, jobs=self.num_workers,
                           ssl_batch=self.args.ssl_batch, logging_config=self.logging_config, desc="pyradiomicsssl",
                           executor=executor, chunk=self.args.ssl_batch or 1).results
    self.failures = [result.error for result in outcomes if result.error]
    recomputed = resume.summary([result.stale for result in outcomes if not result.stored])
    if recomputed:
      logger.warning("%s (their --out-dir files were replaced)", recomputed)
    stored = sum(result.stored for result in outcomes)
    if self.args.out_dir and self.shard is None and stored:
      logger.warning("Assembled %d of %d case(s) from %s; extracted %d here", stored, len(outcomes), self.args.out_dir,
                     len(outcomes) - stored)
    return [result.vector for result in outcomes if not result.error] or None  # a failed case is reported, not written


def parse_overrides(settings, label=None):
  """`--setting KEY:VALUE` strings typed by the extended schema, as pyradiomics does; an unknown key
  or an unparsable value is an error here, not a warning. (pyradiomics 3.0.1's own parser also fails
  on current ruamel.yaml, which no longer has `safe_load`.)"""
  import pykwalify.errors
  import yaml

  from radiomics_ssl.extract.schema import validate_settings

  schema_file, _ = radiomics.getParameterValidationFiles()
  with open(schema_file) as stream:
    known = yaml.safe_load(stream)["mapping"]["setting"]["mapping"]
  overrides = {}
  for setting in settings:
    key, _, value = setting.partition(":")
    if not _ or key not in known:
      raise SettingsError(f"--setting {setting!r}: unknown setting {key!r}{nearest(key, known)} (expected KEY:VALUE "
                          "with a pyradiomics or ssl setting)")
    rule = known[key]
    item_type = (rule["seq"][0].get("type", "str") if "seq" in rule else rule.get("type", "str"))
    try:
      parsed = [_parse_value(v, item_type) for v in value.split(",")]
    except ValueError:
      raise SettingsError(f"--setting {setting!r}: {value!r} is not of type {item_type}") from None
    overrides[key] = parsed if "seq" in rule else parsed[0]
  if label is not None:
    overrides["label"] = label
  try:
    validate_settings(overrides)
  except pykwalify.errors.PyKwalifyException as error:
    raise SettingsError(f"--setting: {schema_message(error)}") from None
  return overrides


def nearest(key, known):
  """' (did you mean 'K'?)' for the closest known key, or ''."""
  close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
  return f" (did you mean {close[0]!r}?)" if close else ""


def schema_message(error):
  """pykwalify's error in one line, with the nearest known key for each unknown one."""
  import yaml

  schema_file, _ = radiomics.getParameterValidationFiles()
  with open(schema_file) as stream:
    schema = yaml.safe_load(stream)["mapping"]
  known = {key for section in schema.values() for key in (section.get("mapping") or {})} | set(schema)
  text = " ".join(str(getattr(error, "msg", None) or error).split())
  return re.sub(r"Key '([^']+)' was not defined", lambda m: f"{m.group(0)}{nearest(m.group(1), known)}", text)


def _parse_value(value, value_type):
  if value_type == "int":
    return int(value)
  if value_type == "float":
    return float(value)
  if value_type == "bool":
    return value == "1" or value.lower() == "true"
  return value


def main(argv=None):
  radiomics_ssl.register()  # the command is the opt-in: its settings are the extended schema's
  logging.getLogger("pykwalify").setLevel(logging.CRITICAL)  # its errors are reported once, in one line (schema_message)
  try:
    code = SSLCommandLine(argv).run()
    # The interpreter's last garbage collection walks torch's whole object graph (0.3-0.5 s, a tenth
    # of a short run); every output is written and closed by now, so leave those objects to the exit.
    gc.freeze()
    return code
  except Exception as error:  # mirrors pyradiomics' parse_args
    logging.getLogger().error("Error executing pyradiomicsssl!", exc_info=True)
    print(f"Error executing pyradiomicsssl!\n{error}")
    return 4


if __name__ == "__main__":
  sys.exit(main())
