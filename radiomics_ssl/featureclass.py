"""The `ssl` pyradiomics feature class: 256 self-supervised features per ROI.

Features `0` ... `255` are the outputs of the encoder's last layer (dense8 of Table 3), so
the output keys are `original_ssl_0` ... `original_ssl_255`. The encoder runs once per ROI,
in `_initCalculation`; each getter only reads one element of the result.
"""
import numpy as np
from radiomics import base

from radiomics_ssl.inference import get_encoder_for
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl.schema import ssl_settings

FEATURE_DIM = 256
IMAGE_TYPE_KEY = "_sslImageType"  # set by registration's computeFeatures wrapper
DEFER_KEY = "_sslDefer"  # set by pyradiomicsssl's batched mode: collect boxes, encode later in batches
_deferred_boxes = []  # (image type, box) collected in this process since the last take_deferred()


def take_deferred():
  """The boxes collected by deferred ssl calculations since the last call, in extraction order."""
  boxes = list(_deferred_boxes)
  _deferred_boxes.clear()
  return boxes


class RadiomicsSSL(base.RadiomicsFeaturesBase):
  r"""Self-supervised features from a pretrained 3DSiam encoder (Li et al., imbalance-aware SSL).

  The ROI is resampled into the weights' preprocessing contract (see
  :py:func:`radiomics_ssl.preprocess.prepare_roi`) and encoded once. Settings: ``sslWeights``,
  ``sslDevice`` and ``sslImageTypes`` (image types the class runs on, default ``original`` only,
  because each filtered image costs one more forward pass and the shipped weights only ever saw
  original images).
  """

  def __init__(self, inputImage, inputMask, **kwargs):
    self.sslSettings = ssl_settings(kwargs)
    super().__init__(inputImage, inputMask, **kwargs)
    image_type = kwargs.get(IMAGE_TYPE_KEY, "original").lower()
    self.imageTypeEnabled = any(image_type == t.lower() or image_type.startswith(t.lower() + "-")
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
      self.logger.debug("ssl skipped for image type %s (sslImageTypes=%s)",
                        self.settings.get(IMAGE_TYPE_KEY), self.sslSettings["sslImageTypes"])
      return {}
    return super().execute()

  def _initCalculation(self, voxelCoordinates=None):
    encoder = get_encoder_for(self.sslSettings)
    dim = encoder.weights.metadata["feature_dim"]
    if dim != FEATURE_DIM:
      raise ValueError(f"{encoder.weights.path}: feature_dim {dim}, the ssl class emits {FEATURE_DIM}")
    prepared = prepare_roi(self.inputImage, self.inputMask, self.label, encoder.weights.contract)
    if self.settings.get(DEFER_KEY):  # the caller encodes the box and fills in the values
      _deferred_boxes.append((self.settings.get(IMAGE_TYPE_KEY, "original"), prepared))
      self.features = np.full(FEATURE_DIM, np.nan)
      return
    self.features = encoder.encode_rois([prepared])[0]
    if not np.isfinite(self.features).all():
      raise ValueError(f"{encoder.weights.path}: the encoder produced non-finite features for this ROI")


def _feature_getter(index):
  def getter(self):
    return self.features[index]

  getter.__name__ = f"get{index}FeatureValue"
  getter.__doc__ = f"SSL feature {index}: output {index} of the encoder's last layer."
  return getter


for _index in range(FEATURE_DIM):
  setattr(RadiomicsSSL, f"get{_index}FeatureValue", _feature_getter(_index))
