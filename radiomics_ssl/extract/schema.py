"""The pyradiomics parameter schema, extended with the ssl settings (defaults: config.EXTRACTION_DEFAULTS).

pyradiomics validates parameter files with pykwalify against a closed schema, so an extended
schema is written once per process (to a content-addressed file in the temp folder) and served
in place of pyradiomics' own by `radiomics.getParameterValidationFiles`.
"""
import functools
import hashlib
import os
import tempfile
from pathlib import Path

import pykwalify.core
import yaml

from radiomics_ssl.config import DEVICE_PATTERN, EXTRACTION_DEFAULTS, INPUT_DEFAULTS, MODALITIES, PRECISIONS

SSL_SCHEMA = {
  "sslWeights": {"type": "str", "func": "checkSslWeights"},
  "sslDevice": {"type": "str", "pattern": DEVICE_PATTERN},
  "sslImageTypes": {"seq": [{"type": "str"}]},
  "sslPrecision": {"type": "str", "enum": list(PRECISIONS)},
  "sslThreads": {"type": "int", "range": {"min": 1}},
  "sslModality": {"type": "str", "enum": [m for m in MODALITIES if m != "any"]},
  "sslUnitsCheck": {"type": "bool"},
  "sslThinAxisGuard": {"type": "bool"},
}
assert set(SSL_SCHEMA) == set(EXTRACTION_DEFAULTS)
INPUT_SCHEMA = {"dicomSUV": {"type": "bool"}}  # defaults: config.INPUT_DEFAULTS
assert set(INPUT_SCHEMA) == set(INPUT_DEFAULTS)

_FUNCS = str(Path(__file__).with_name("schema_funcs.py"))


def extended_schema_files(stock_schema_file):
  """(schema, funcs) paths: pyradiomics' schema with SSL_SCHEMA added to its `setting` map."""
  with open(stock_schema_file) as stream:
    schema = yaml.safe_load(stream)
  schema["mapping"]["setting"]["mapping"].update(SSL_SCHEMA, **INPUT_SCHEMA)
  schema["mapping"]["imageType"]["mapping"]["regex;(.+)"]["mapping"].update(SSL_SCHEMA)
  text = yaml.safe_dump(schema, default_flow_style=False)
  digest = hashlib.sha256(text.encode()).hexdigest()[:16]
  path = os.path.join(tempfile.gettempdir(), f"radiomics_ssl-paramSchema-{digest}.yaml")
  if not os.path.isfile(path):
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".yaml")
    with os.fdopen(handle, "w") as stream:
      stream.write(text)
    os.replace(tmp, path)
  return path, _FUNCS


def validate_settings(settings, source="settings"):
  """Validate a `setting:` dict against the extended schema; raises pykwalify's SchemaError."""
  import radiomics

  schema_file, funcs = radiomics.getParameterValidationFiles()
  core = pykwalify.core.Core(source_data={"setting": dict(settings)}, schema_files=[schema_file], extensions=[funcs])
  core.validate(raise_exception=True)


def ssl_settings(settings):
  """The ssl settings from a pyradiomics settings dict, validated (once per distinct value), with defaults."""
  given = tuple(sorted((key, _frozen(value)) for key, value in settings.items()
                       if key in EXTRACTION_DEFAULTS and value is not None))
  return dict(_validated(given))


@functools.lru_cache(maxsize=64)
def _validated(given):
  from radiomics_ssl import weights as weights_io

  values = {key: list(value) if isinstance(value, tuple) else value for key, value in given}
  validate_settings(values)
  merged = dict(EXTRACTION_DEFAULTS, **values)
  modality = merged["sslModality"]
  if modality:
    loaded = weights_io.load(merged["sslWeights"])
    if loaded.contract.modality not in ("any", modality):
      raise ValueError(f"sslModality {modality!r} does not match {loaded.path}, whose contract is for "
                       f"{loaded.contract.modality} images ({loaded.contract.intensity} window {list(loaded.contract.window)}); "
                       f"use the {modality} weights (see params/ssl_{modality.lower()}.yaml)")
  return tuple(merged.items())


def _frozen(value):
  return tuple(value) if isinstance(value, list) else value
