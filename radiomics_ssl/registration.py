"""Opt-in: after `import radiomics_ssl`, a stock RadiomicsFeatureExtractor accepts `ssl`.

Three hooks, installed once and only here:
1. `ssl` joins pyradiomics' feature-class registry (the dict `getFeatureClasses()` returns);
2. the parameter schema gains the ssl settings (`radiomics_ssl.schema`);
3. the extractor tells the ssl class which image type it is computing (so filtered images are
   skipped unless `sslImageTypes` asks for them) and appends `diagnostics_ssl_*` provenance.
Without the import, pyradiomics is untouched.
"""
import collections
import functools
import json

_registered = False


def register():
  """Install the hooks; idempotent. Called by `import radiomics_ssl`."""
  global _registered
  if _registered:
    return
  import radiomics
  from radiomics import featureextractor

  from radiomics_ssl.featureclass import RadiomicsSSL
  from radiomics_ssl.schema import extended_schema_files

  radiomics.getFeatureClasses()["ssl"] = RadiomicsSSL
  stock_files = radiomics.getParameterValidationFiles
  extended = functools.lru_cache(maxsize=1)(lambda: extended_schema_files(stock_files()[0]))
  radiomics.getParameterValidationFiles = extended
  featureextractor.getParameterValidationFiles = extended

  extractor = featureextractor.RadiomicsFeatureExtractor
  extractor.computeFeatures = _with_image_type(extractor.computeFeatures)
  extractor.execute = _with_provenance(extractor.execute)
  _registered = True


def _with_image_type(compute_features):
  from radiomics_ssl.featureclass import IMAGE_TYPE_KEY

  @functools.wraps(compute_features)
  def wrapper(self, image, mask, imageTypeName, **kwargs):
    if "ssl" in self.enabledFeatures:
      kwargs[IMAGE_TYPE_KEY] = imageTypeName
    return compute_features(self, image, mask, imageTypeName, **kwargs)

  return wrapper


def _with_provenance(execute):
  @functools.wraps(execute)
  def wrapper(self, *args, **kwargs):
    vector = execute(self, *args, **kwargs)
    if "ssl" not in self.enabledFeatures or not self.settings.get("additionalInfo", True):
      return vector
    return _insert_after_diagnostics(vector, provenance(self.settings))

  return wrapper


def provenance(settings):
  """diagnostics_ssl_* entries: which weights, contract and numerics (device, precision, threads,
  torch and backend versions) made the features."""
  from radiomics_ssl import __version__
  from radiomics_ssl.inference import get_encoder_for, numerics
  from radiomics_ssl.schema import ssl_settings

  ssl = ssl_settings(settings)
  encoder = get_encoder_for(ssl)
  entries = [("Version", __version__), ("Weights", encoder.weights.name), ("WeightsSha256", encoder.weights.sha256),
             ("Trained", bool(encoder.weights.metadata.get("trained"))), *numerics(encoder).items(),
             ("Contract", json.dumps(encoder.weights.metadata["contract"], sort_keys=True))]
  return collections.OrderedDict((f"diagnostics_ssl_{name}", value) for name, value in entries)


def _insert_after_diagnostics(vector, extra):
  keys = list(vector)
  position = max((i + 1 for i, key in enumerate(keys) if key.startswith("diagnostics_")), default=0)
  merged = collections.OrderedDict((key, vector[key]) for key in keys[:position])
  merged.update(extra)
  merged.update((key, vector[key]) for key in keys[position:])
  return merged
