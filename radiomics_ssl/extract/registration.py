"""Opt-in: after `radiomics_ssl.register()`, a stock RadiomicsFeatureExtractor accepts `ssl`.

Hooks, installed once and only here:
1. `ssl` joins pyradiomics' feature-class registry (the dict `getFeatureClasses()` returns);
2. the parameter schema gains the ssl settings (`extract/schema.py`);
3. the extractor runs the ssl class only on the image types `sslImageTypes` names (filtered
   images are skipped by default), checks the units of the original image (radiomics_ssl.units)
   and appends `diagnostics_ssl_*`: provenance and that check;
4. B-spline resampling of an image with a two-voxel axis is guarded (`extract/thin_axes.py`):
   without it, ITK reads outside its buffer and classical and ssl values change from run to run.
Without the opt-in, pyradiomics is untouched. `stock_compute_features` and `stock_execute` are
pyradiomics' own methods, for extractors that handle the ssl class themselves (extract/batch.py).
"""
import collections
import copy
import functools
import json
import logging

logger = logging.getLogger("radiomics_ssl")
_registered = False
stock_compute_features = stock_execute = None


def register():
  """Install the hooks; idempotent."""
  global _registered, stock_compute_features, stock_execute
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
  stock_compute_features, stock_execute = extractor.computeFeatures, extractor.execute
  extractor.computeFeatures = _compute_features
  extractor.execute = _execute
  imageoperations.resampleImage = guarded(imageoperations.resampleImage)
  _registered = True


def ssl_enabled(extractor, image_type):
  """The ssl settings when the extractor enables the ssl class for `image_type`, else None."""
  from radiomics_ssl.extract.featureclass import FEATURE_CLASS, image_type_enabled
  from radiomics_ssl.extract.schema import ssl_settings

  if FEATURE_CLASS not in extractor.enabledFeatures:
    return None
  ssl = ssl_settings(extractor.settings)
  return ssl if image_type_enabled(image_type, ssl["sslImageTypes"]) else None


def compute_without_ssl(extractor, image, mask, image_type, **kwargs):
  """pyradiomics' computeFeatures for every enabled class but ssl (on a shallow copy of the extractor)."""
  from radiomics_ssl.extract.featureclass import FEATURE_CLASS

  classical = copy.copy(extractor)
  classical.enabledFeatures = {name: value for name, value in extractor.enabledFeatures.items() if name != FEATURE_CLASS}
  return stock_compute_features(classical, image, mask, image_type, **kwargs)


def _compute_features(self, image, mask, imageTypeName, **kwargs):
  """The stock extractor's computeFeatures: ssl only on the image types it is enabled for; the
  original image's units are checked for `_execute` to report."""
  from radiomics_ssl.extract.featureclass import FEATURE_CLASS
  from radiomics_ssl.units import diagnostic, image_roi_percentiles
  from radiomics_ssl.weights import load

  if FEATURE_CLASS not in self.enabledFeatures:
    return stock_compute_features(self, image, mask, imageTypeName, **kwargs)
  ssl = ssl_enabled(self, imageTypeName)
  if ssl is None:
    return compute_without_ssl(self, image, mask, imageTypeName, **kwargs)
  if imageTypeName == "original":
    self._ssl_units = diagnostic(load(ssl["sslWeights"]).contract.modality,
                                 image_roi_percentiles(image, mask, kwargs.get("label", 1)), ssl["sslUnitsCheck"])
  return stock_compute_features(self, image, mask, imageTypeName, **kwargs)


def _execute(self, imageFilepath, maskFilepath, *args, **kwargs):
  """The stock extractor's execute, with `diagnostics_ssl_*` appended when the ssl class is enabled."""
  from radiomics_ssl.extract.featureclass import FEATURE_CLASS, UNITS_COLUMN
  from radiomics_ssl.extract.schema import ssl_settings
  from radiomics_ssl.inference import get_encoder_for, numerics
  from radiomics_ssl.units import unset_modality_warning

  self._ssl_units = None
  vector = stock_execute(self, imageFilepath, maskFilepath, *args, **kwargs)
  if FEATURE_CLASS not in self.enabledFeatures:
    return vector
  ssl = ssl_settings(self.settings)
  encoder = get_encoder_for(ssl)
  if not ssl["sslModality"] and not getattr(self, "_ssl_modality_warned", False):
    warning = unset_modality_warning("the extractor's settings", encoder.weights)
    if warning:
      logger.warning("%s", warning)
    self._ssl_modality_warned = True
  units, self._ssl_units = self._ssl_units, None
  if units and units[1]:
    logger.warning("%s: %s", imageFilepath if isinstance(imageFilepath, str) else "image", units[1])
  if not self.settings.get("additionalInfo", True):
    return vector
  return insert_after_diagnostics(vector, provenance(encoder.weights, numerics(encoder),
                                                     {UNITS_COLUMN: units[0]} if units else None))


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
