"""The `ssl` pyradiomics feature class: 256 self-supervised features per ROI.

Features `0` ... `255` are the outputs of the encoder's last layer (dense8 of Table 3), so the
output keys are `original_ssl_0` ... `original_ssl_255` (`ssl_column`). The ROI is prepared and
encoded once, in `_initCalculation`; each getter only reads one element of the result.

In `pyradiomicsssl`'s per-case step the extractor hands the class a `RoiRecorder` (`RECORDER_KEY`):
the class then prepares the encoder's input, gives it to the recorder, and leaves its values
empty for the encoder stage to fill (extract/batch.py). No model is loaded in that step.
Otherwise (the Python API) the class encodes the ROI itself, checks its units (radiomics_ssl.units)
and leaves the result in the extractor's notes (`NOTES_KEY`), which become `diagnostics_ssl_Units`.
"""
from radiomics import base

from radiomics_ssl import units
from radiomics_ssl.extract.schema import ssl_settings
from radiomics_ssl.inference import get_encoder_for
from radiomics_ssl.preprocess import prepare_roi

FEATURE_CLASS = "ssl"
FEATURE_DIM = 256
IMAGE_TYPE_KEY = "_sslImageType"  # set by the extractor: which image type the class computes
RECORDER_KEY = "_sslRecorder"  # set by batch.CaseExtractor: where the prepared ROIs go
NOTES_KEY = "_sslNotes"  # set by the extractor (registration.py): per-case diagnostics the class reports
UNITS_COLUMN = "diagnostics_ssl_Units"


def ssl_column(image_type, index):
  """The output column of feature `index` for `image_type`, as pyradiomics names it."""
  return f"{image_type}_{FEATURE_CLASS}_{index}"


class RadiomicsSSL(base.RadiomicsFeaturesBase):
  r"""Self-supervised features from a pretrained 3DSiam encoder (Li et al., imbalance-aware SSL).

  The ROI is resampled into the weights' preprocessing contract (see
  :py:func:`radiomics_ssl.preprocess.prepare_roi`) and encoded once. Settings: ``sslWeights``,
  ``sslDevice``, ``sslPrecision``, ``sslThreads``, ``sslModality`` and ``sslImageTypes`` (image
  types the class runs on, default ``original`` only, because each filtered image costs one more
  forward pass and the shipped weights only ever saw original images).
  """

  def __init__(self, inputImage, inputMask, **kwargs):
    self.sslSettings = ssl_settings(kwargs)
    self.recorder = kwargs.pop(RECORDER_KEY, None)
    self.notes = kwargs.pop(NOTES_KEY, None)
    super().__init__(inputImage, inputMask, **kwargs)
    self.imageType = kwargs.get(IMAGE_TYPE_KEY, "original").lower()
    self.imageTypeEnabled = any(self.imageType == t.lower() or self.imageType.startswith(t.lower() + "-")
                                for t in self.sslSettings["sslImageTypes"])
    self.features = None

  def enableAllFeatures(self):
    """Enable 0 ... 255 in numeric order, so output columns are not sorted as text (0, 1, 10, 100, ...)."""
    for index in range(FEATURE_DIM):
      self.enableFeatureByName(str(index), True)

  def _initVoxelBasedCalculation(self):
    raise ValueError("ssl features are per ROI; voxel-based extraction is not supported for the ssl class")

  def execute(self):
    if not self.imageTypeEnabled:
      self.logger.debug("ssl skipped for image type %s (sslImageTypes=%s)", self.imageType, self.sslSettings["sslImageTypes"])
      return {}
    if self.recorder is not None:  # the per-case step: prepare only; the encoder stage fills the values
      self.recorder.record(self.imageType, prepare_roi(self.inputImage, self.inputMask, self.label, self.recorder.contract))
      return {name: None for name, enabled in self.enabledFeatures.items() if enabled}
    return super().execute()

  def _initCalculation(self, voxelCoordinates=None):
    if self.features is not None:  # pyradiomics calls this at every execute(); the ROI is encoded once
      return
    encoder = get_encoder_for(self.sslSettings)
    prepared = prepare_roi(self.inputImage, self.inputMask, self.label, encoder.contract)
    if self.imageType == "original":
      value, warning = units.diagnostic(encoder.contract.modality, prepared.roi_percentiles, self.sslSettings["sslUnitsCheck"])
      if warning:
        self.logger.warning("%s", warning)
      if self.notes is not None:
        self.notes[UNITS_COLUMN] = value
    self.features = encoder.encode_rois([prepared])[0]


def _feature_getter(index):
  def getter(self):
    return self.features[index]

  getter.__name__ = f"get{index}FeatureValue"
  getter.__doc__ = f"SSL feature {index}: output {index} of the encoder's last layer."
  return getter


for _index in range(FEATURE_DIM):
  setattr(RadiomicsSSL, f"get{_index}FeatureValue", _feature_getter(_index))
