"""Opt-in: after `radiomics_ssl.register()`, a stock RadiomicsFeatureExtractor accepts `ssl`.

Four hooks, installed once and only here:
1. `ssl` joins pyradiomics' feature-class registry (the dict `getFeatureClasses()` returns);
2. the parameter schema gains the ssl settings (`extract/schema.py`);
3. the extractor tells the ssl class which image type it is computing (so filtered images are
   skipped unless `sslImageTypes` asks for them) and appends `diagnostics_ssl_*` provenance;
4. B-spline resampling of an image with a two-voxel axis is guarded (`extract/thin_axes.py`):
   without it, ITK reads outside its buffer and classical and ssl values change from run to run.
Without the opt-in, pyradiomics is untouched.
"""
import collections
import functools
import json
import logging

_registered = False


def register():
  """Install the hooks; idempotent."""
  global _registered
  if _registered:
    return
  import radiomics
  from radiomics import featureextractor, imageoperations

  from radiomics_ssl.extract.featureclass import FEATURE_CLASS, RadiomicsSSL
  from radiomics_ssl.extract.schema import extended_schema_files
  from radiomics_ssl.extract.thin_axes import guarded

  radiomics.getFeatureClasses()[FEATURE_CLASS] = RadiomicsSSL
  stock_files = radiomics.getParameterValidationFiles
  extended = functools.lru_cache(maxsize=1)(lambda: extended_schema_files(stock_files()[0]))
  radiomics.getParameterValidationFiles = extended
  featureextractor.getParameterValidationFiles = extended

  extractor = featureextractor.RadiomicsFeatureExtractor
  extractor.computeFeatures = _with_image_type(extractor.computeFeatures)
  extractor.execute = _with_provenance(extractor.execute)
  imageoperations.resampleImage = guarded(imageoperations.resampleImage)
  _registered = True


def _with_image_type(compute_features):
  from radiomics_ssl.extract.featureclass import FEATURE_CLASS, IMAGE_TYPE_KEY, NOTES_KEY

  @functools.wraps(compute_features)
  def wrapper(self, image, mask, imageTypeName, **kwargs):
    if FEATURE_CLASS in self.enabledFeatures:
      kwargs[IMAGE_TYPE_KEY] = imageTypeName
      if getattr(self, "_ssl_notes", None) is not None:
        kwargs[NOTES_KEY] = self._ssl_notes
    return compute_features(self, image, mask, imageTypeName, **kwargs)

  return wrapper


def _with_provenance(execute):
  @functools.wraps(execute)
  def wrapper(self, *args, **kwargs):
    self._ssl_notes = {}
    try:
      vector = execute(self, *args, **kwargs)
    finally:
      notes, self._ssl_notes = self._ssl_notes, None
    if not self.settings.get("additionalInfo", True) or not getattr(self, "ssl_provenance", True):
      return vector
    from radiomics_ssl.extract.featureclass import FEATURE_CLASS
    from radiomics_ssl.extract.schema import ssl_settings
    from radiomics_ssl.inference import get_encoder_for, numerics
    from radiomics_ssl.units import unset_modality_warning

    if FEATURE_CLASS not in self.enabledFeatures:
      return vector
    ssl = ssl_settings(self.settings)
    encoder = get_encoder_for(ssl)
    if not ssl["sslModality"] and not getattr(self, "_ssl_modality_warned", False):
      warning = unset_modality_warning("the extractor's settings", encoder.weights)
      if warning:
        logging.getLogger("radiomics_ssl").warning("%s", warning)
      self._ssl_modality_warned = True
    return insert_after_diagnostics(vector, provenance(encoder.weights, numerics(encoder), notes))

  return wrapper


def provenance(weights, numerics, notes=None):
  """diagnostics_ssl_* entries: which weights and contract (`weights`), and which numerics (device,
  precision, threads, torch and backend versions: inference.numerics) made the features; then the
  case's own `notes` (full column names: the units check)."""
  from radiomics_ssl import __version__

  entries = [("Version", __version__), ("Weights", weights.name), ("WeightsSha256", weights.sha256),
             ("Trained", bool(weights.metadata.get("trained"))), *numerics.items(),
             ("Contract", json.dumps(weights.metadata["contract"], sort_keys=True))]
  entries = collections.OrderedDict((f"diagnostics_ssl_{name}", value) for name, value in entries)
  entries.update(notes or {})
  return entries


def insert_after_diagnostics(vector, extra):
  keys = list(vector)
  position = max((i + 1 for i, key in enumerate(keys) if key.startswith("diagnostics_")), default=0)
  merged = collections.OrderedDict((key, vector[key]) for key in keys[:position])
  merged.update(extra)
  merged.update((key, vector[key]) for key in keys[position:])
  return merged
