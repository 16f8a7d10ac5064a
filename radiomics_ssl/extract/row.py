"""The one road from an image and its mask to a row with ssl features.

Every entry point takes it, in its own process:
- the stock extractor's `execute` after `radiomics_ssl.register()` (the Python API): `extract_row`;
- `pyradiomicsssl`, `radiomics-ssl-inspect` and `radiomics-ssl-robustness`: `prepare_case` in the
  per-case step (a worker), then `complete_row` in the encoder stage, after the encoding
  (extract/batch.py).
So the units rule, the provenance, the warnings and the encoder's input are written once, and the
API and the commands give the same row, bit for bit.

`prepare_case`:
1. checks the ROI's values against the weights' modality before any feature is computed
   (radiomics_ssl.units): a mismatch fails the case when the parameter file names a modality
   (`sslModality`), and is a warning otherwise; `sslUnitsCheck: false` silences both;
2. runs pyradiomics' own `execute` with the classical classes and, in place of the ssl class,
   prepares the encoder's input (`preprocess.prepare_roi`) from the image and mask pyradiomics
   hands a feature class, on each image type `sslImageTypes` names; a contract that sees the
   context around the ROI (`context: cube`, `window_region: cube`) gets the original image as
   loaded instead, before pyradiomics' resampling and crop. With `sslThinAxisGuard` (on by
   default) pyradiomics' B-spline resampling of two-voxel axes is guarded for this call only
   (extract/thin_axes.py); it changes classical values of such images, and no others.
`complete_row` fills the ssl columns and adds `diagnostics_ssl_*`: provenance and the units check.
"""
import collections
import copy
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Optional

import SimpleITK as sitk
from radiomics.featureextractor import RadiomicsFeatureExtractor

from radiomics_ssl.cases import CaseError, dicom_diagnostics, load_row
from radiomics_ssl.config import INPUT_DEFAULTS
from radiomics_ssl.extract import thin_axes
from radiomics_ssl.extract.featureclass import FEATURE_CLASS, UNITS_COLUMN, enabled_columns, image_type_enabled
from radiomics_ssl.extract.schema import ssl_settings
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl.tables import ssl_column
from radiomics_ssl.units import diagnostic, roi_percentiles, unset_modality_warning

logger = logging.getLogger("radiomics_ssl")
# pyradiomics' own methods, taken before register() patches `execute` (this module is imported first)
STOCK_EXECUTE = RadiomicsFeatureExtractor.execute
STOCK_COMPUTE_FEATURES = RadiomicsFeatureExtractor.computeFeatures


class UnitsMismatch(CaseError):
  """The ROI's values do not look like the units of the modality the parameter file names."""


@dataclass
class PreparedCase:
  """A case after the per-case step: pyradiomics' row with its ssl columns empty, and what the
  encoder must encode to fill them."""
  vector: collections.OrderedDict
  rois: list = field(default_factory=list)  # [(image type, preprocess.PreparedRoi)]
  units: Optional[str] = None  # the diagnostics_ssl_Units value (None without the ssl class)
  warnings: list = field(default_factory=list)  # one line each, naming the case


def ssl_enabled(extractor):
  """The extractor's validated ssl settings when it enables the ssl class, else None."""
  return ssl_settings(extractor.settings) if FEATURE_CLASS in extractor.enabledFeatures else None


def prepare_case(extractor, ssl, contract, image, mask, label=None, label_channel=None, source="image", inputs=None):
  """SimpleITK `image` and `mask` -> PreparedCase. `ssl`: the extractor's ssl settings (None: the
  classical classes only); `contract`: the weights' preprocessing contract; `source` names the case
  in messages; `inputs`: diagnostics of how the inputs were read (cases.dicom_diagnostics), placed
  after pyradiomics' own. Raises UnitsMismatch, or pyradiomics' own errors, for an unusable case."""
  label = extractor.settings.get("label", 1) if label is None else label
  prepared = PreparedCase(collections.OrderedDict())
  if ssl is not None:
    prepared.units = _check_units(ssl, contract, image, mask, label, label_channel, source, prepared.warnings)
  classical = copy.copy(extractor)
  classical.enabledFeatures = {name: value for name, value in extractor.enabledFeatures.items() if name != FEATURE_CLASS}

  def compute_features(image_, mask_, imageTypeName, **kwargs):
    vector = STOCK_COMPUTE_FEATURES(classical, image_, mask_, imageTypeName, **kwargs)
    if ssl is not None and image_type_enabled(imageTypeName, ssl["sslImageTypes"]):
      if contract.sees_context and imageTypeName == "original":  # the image around the ROI
        image_, mask_ = image, _selected(mask, label_channel)
      prepared.rois.append((imageTypeName, prepare_roi(image_, mask_, kwargs.get("label", 1), contract)))
      vector.update((column, None) for column in enabled_columns(extractor, imageTypeName))
    return vector

  classical.computeFeatures = compute_features  # this call's copy only; the extractor is untouched
  with thin_axes.guarded_resampling(bool(ssl and ssl["sslThinAxisGuard"])):
    prepared.vector = STOCK_EXECUTE(classical, image, mask, label, label_channel)
  if inputs and extractor.settings.get("additionalInfo", True):
    prepared.vector = insert_after_diagnostics(prepared.vector, inputs)
  return prepared


def complete_row(vector, rois, features, units, encoder, additional_info=True):
  """The row: `vector` with the ssl columns of each prepared ROI filled from its `features`, and
  `diagnostics_ssl_*` (provenance, then the units check) after pyradiomics' own diagnostics."""
  vector = collections.OrderedDict(vector)
  for (image_type, _), values in zip(rois, features):
    vector.update((column, value) for column, value in
                  ((ssl_column(image_type, i), value) for i, value in enumerate(values)) if column in vector)
  if not additional_info:
    return vector
  return insert_after_diagnostics(vector, provenance(encoder, {UNITS_COLUMN: units} if units else None))


def extract_row(extractor, image, mask, label=None, label_channel=None):
  """The stock extractor's `execute` with the ssl class enabled (installed by register()):
  `image` and `mask` are file paths or SimpleITK images."""
  from radiomics_ssl.inference import get_encoder_for

  ssl = ssl_settings(extractor.settings)
  encoder = get_encoder_for(ssl)
  if not ssl["sslModality"]:
    _warn_once(unset_modality_warning("the extractor's settings", encoder.weights))
  source, inputs = (image if isinstance(image, str) else "image"), None
  if isinstance(image, str) and isinstance(mask, str):  # files, or a DICOM series and its RTSTRUCT or SEG
    row = {"Image": image, "Mask": mask, "Label": label}
    image, mask, label, info = load_row(row, extractor.settings.get("label", 1), extractor.settings.get("correctMask", False),
                                        extractor.settings.get("dicomSUV", INPUT_DEFAULTS["dicomSUV"]))
    inputs = dicom_diagnostics(info)
  prepared = prepare_case(extractor, ssl, encoder.contract, image, mask, label, label_channel, source, inputs)
  for warning in prepared.warnings:
    logger.warning("%s", warning)
  features = encoder.encode_each([roi for _, roi in prepared.rois], encoder.default_batch)
  return complete_row(prepared.vector, prepared.rois, features, prepared.units, encoder,
                      extractor.settings.get("additionalInfo", True))


def provenance(encoder, notes=None):
  """diagnostics_ssl_* entries: which weights and contract, and which numerics (device, precision,
  threads, torch and backend versions: inference.numerics) made the features; then the case's own
  `notes` (full column names: the units check)."""
  from radiomics_ssl import __version__
  from radiomics_ssl.inference import numerics

  weights = encoder.weights
  entries = [("Version", __version__), ("Weights", weights.name), ("WeightsSha256", weights.sha256),
             ("Trained", bool(weights.metadata.get("trained"))), *numerics(encoder).items(),
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


def _check_units(ssl, contract, image, mask, label, label_channel, source, warnings):
  """The units rule on the original image's ROI, before any feature: -> the diagnostics value."""
  if not ssl["sslUnitsCheck"]:
    return diagnostic(contract.modality, None, enabled=False)[0]
  mask = _selected(mask, label_channel)
  if mask.GetSize() != image.GetSize() or mask.GetSpacing() != image.GetSpacing() or mask.GetOrigin() != image.GetOrigin():
    mask = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())  # correctMask
  in_roi = sitk.GetArrayViewFromImage(mask) == label
  if not in_roi.any():
    raise CaseError(f"label {label} is absent from the mask on the image's grid")
  value, warning = diagnostic(contract.modality, roi_percentiles(sitk.GetArrayViewFromImage(image)[in_roi]))
  if warning and ssl["sslModality"]:
    raise UnitsMismatch(f"{warning} (sslModality: {ssl['sslModality']}; no feature was computed; "
                        "set sslUnitsCheck: false if the images are right)")
  if warning:
    warnings.append(f"{source}: {warning}")
  return value


def _selected(mask, label_channel):
  """A segmentation object's channel `label_channel` (pyradiomics' rule, default 0), or the mask."""
  return sitk.VectorIndexSelectionCast(mask, label_channel or 0) if mask.GetNumberOfComponentsPerPixel() > 1 else mask


@functools.lru_cache(maxsize=None)
def _warn_once(message):
  if message:
    logger.warning("%s", message)
