"""The `ssl` pyradiomics feature class: 256 self-supervised features per ROI.

Features `0` ... `255` are the outputs of the encoder's last layer (dense8 of Table 3), so the
output keys are `original_ssl_0` ... `original_ssl_255` (`tables.ssl_column`, the one naming rule). The ROI is prepared and
encoded once, in `_initCalculation`; each getter only reads one element of the result.

The class encodes whatever image it is given, like any pyradiomics feature class. Extractors do
not call it: after `register()`, the stock extractor and the commands take the one road to a row
(extract/row.py), which prepares the same input with the same function, encodes it, and adds the
provenance that a feature class cannot.
"""
from radiomics import base

from radiomics_ssl.config import FEATURE_DIM
from radiomics_ssl.extract.schema import ssl_settings
from radiomics_ssl.inference import get_encoder_for
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl.tables import SSL_CLASS, ssl_column

FEATURE_CLASS = SSL_CLASS
UNITS_COLUMN = "diagnostics_ssl_Units"




def image_type_enabled(image_type, ssl_image_types):
  """Whether `sslImageTypes` (prefixes such as `original`, `wavelet`, `log`) covers pyradiomics'
  image type name `image_type` (`original`, `wavelet-LLH`, `log-sigma-1-0-mm-3D`, ...)."""
  name = image_type.lower()
  return any(name == t.lower() or name.startswith(t.lower() + "-") for t in ssl_image_types)


class RadiomicsSSL(base.RadiomicsFeaturesBase):
  r"""Self-supervised features from a pretrained 3DSiam encoder (Li et al., imbalance-aware SSL).

  The ROI is resampled into the weights' preprocessing contract (see
  :py:func:`radiomics_ssl.preprocess.prepare_roi`) and encoded once. Settings: ``sslWeights``,
  ``sslDevice``, ``sslPrecision``, ``sslThreads``, ``sslModality``, ``sslUnitsCheck`` and
  ``sslImageTypes`` (image types the extractor runs the class on, default ``original`` only,
  because each filtered image costs one more forward pass and the shipped weights only ever saw
  original images).
  """

  def __init__(self, inputImage, inputMask, **kwargs):
    self.sslSettings = ssl_settings(kwargs)
    super().__init__(inputImage, inputMask, **kwargs)
    self.features = None

  def enableAllFeatures(self):
    """Enable 0 ... 255 in numeric order, so output columns are not sorted as text (0, 1, 10, 100, ...)."""
    for index in range(FEATURE_DIM):
      self.enableFeatureByName(str(index), True)

  def _initVoxelBasedCalculation(self):
    raise ValueError("ssl features are per ROI; voxel-based extraction is not supported for the ssl class")

  def _initCalculation(self, voxelCoordinates=None):
    if self.features is not None:  # pyradiomics calls this at every execute(); the ROI is encoded once
      return
    encoder = get_encoder_for(self.sslSettings)
    self.features = encoder.encode_rois([prepare_roi(self.inputImage, self.inputMask, self.label, encoder.contract)])[0]


def enabled_columns(extractor, image_type):
  """The ssl columns pyradiomics would write for `image_type`, in its order."""
  names = extractor.enabledFeatures.get(FEATURE_CLASS) or [str(index) for index in range(FEATURE_DIM)]
  return [ssl_column(image_type, name) for name in names]


def _feature_getter(index):
  def getter(self):
    return self.features[index]

  getter.__name__ = f"get{index}FeatureValue"
  getter.__doc__ = f"SSL feature {index}: output {index} of the encoder's last layer."
  return getter


for _index in range(FEATURE_DIM):
  setattr(RadiomicsSSL, f"get{_index}FeatureValue", _feature_getter(_index))
