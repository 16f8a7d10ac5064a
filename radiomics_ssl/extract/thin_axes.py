"""A guard for B-spline resampling of images with a two-voxel axis.

ITK's B-spline interpolator (SimpleITK 2.5.7, the latest on PyPI) applies its mirror boundary
condition once per side. On an axis of only two voxels, the support of a spline of order 3 to 5
needs a second reflection, so ITK reads a coefficient outside its buffer, and the resampled voxels
near that edge take whatever the memory holds: the true value, 0 or 32767, changing from run to
run, with any numpy (tests/extract/test_thin_axes.py reproduces it). pyradiomics' default
interpolator is `sitkBSpline` (order 3), and thin crops are common: 26 of the 596 LIDC nodules
span two slices. The symptom is "Calculation of GLCM Failed", or silently wrong first-order values.

The guard pads such an axis with its whole-sample-symmetric mirror image (a b -> a b a b a b a b),
which is exactly the extension ITK's boundary condition defines, so that ITK needs one reflection
at most and computes the values it intends. Only the image is padded, and only when the settings
resample with such a spline: pyradiomics fixes its output grid from the mask, so the grid, and
every image without a two-voxel axis, stay bit-identical to stock pyradiomics.
"""
import contextlib
import functools

import numpy as np
import SimpleITK as sitk

THIN = 2  # voxels along an axis where ITK's single reflection is not enough
PAD = 3  # voxels added on each side: the half-support of a spline of order 5
AFFECTED_INTERPOLATORS = ("sitkBSpline", "sitkBSpline3", "sitkBSpline4", "sitkBSpline5", "sitkBSplineResampler",
                          "sitkBSplineResamplerOrder3", "sitkBSplineResamplerOrder4", "sitkBSplineResamplerOrder5")


def affected(interpolator):
  """True for a pyradiomics `interpolator` setting (a name or SimpleITK's number) that ITK's
  one-reflection boundary breaks on two-voxel axes."""
  names = {getattr(sitk, name) for name in AFFECTED_INTERPOLATORS if hasattr(sitk, name)}
  if isinstance(interpolator, str):
    return interpolator in AFFECTED_INTERPOLATORS
  return interpolator in names


def pad_thin_axes(image):
  """`image` with every two-voxel axis mirror-padded by PAD voxels on both sides (physical positions
  of the original voxels unchanged); `image` itself when no axis is that thin."""
  size = image.GetSize()
  thin = [axis for axis, length in enumerate(size) if length == THIN]
  if not thin or image.GetNumberOfComponentsPerPixel() != 1:
    return image
  pad_xyz = [PAD if axis in thin else 0 for axis in range(image.GetDimension())]
  array = sitk.GetArrayFromImage(image)  # (z, y, x)
  padded = sitk.GetImageFromArray(np.pad(array, [(p, p) for p in pad_xyz[::-1]], mode="reflect"))
  padded.SetSpacing(image.GetSpacing())
  padded.SetDirection(image.GetDirection())
  padded.SetOrigin(image.TransformContinuousIndexToPhysicalPoint([-float(p) for p in pad_xyz]))
  return padded


@contextlib.contextmanager
def guarded_resampling(enabled=True):
  """pyradiomics' `imageoperations.resampleImage` guarded for the duration of the block (the
  extractions of the ssl road, extract/row.py, with `sslThinAxisGuard`), then pyradiomics' own again."""
  from radiomics import imageoperations

  stock = imageoperations.resampleImage
  if not enabled or getattr(stock, "thin_axis_guard", False):
    yield
    return
  imageoperations.resampleImage = guarded(stock)
  try:
    yield
  finally:
    imageoperations.resampleImage = stock


def guarded(resample_image):
  """Wrap pyradiomics' `imageoperations.resampleImage(imageNode, maskNode, **kwargs)` with the guard."""

  @functools.wraps(resample_image)
  def wrapper(imageNode, maskNode, **kwargs):
    if affected(kwargs.get("interpolator", sitk.sitkBSpline)) and _interpolates(imageNode, kwargs):
      imageNode = pad_thin_axes(imageNode)
    return resample_image(imageNode, maskNode, **kwargs)

  wrapper.thin_axis_guard = True
  return wrapper


def _interpolates(image, settings):
  """Whether pyradiomics will interpolate the image (it only resamples the mask when the spacing is
  unchanged; 0 in `resampledPixelSpacing` keeps an axis' spacing)."""
  spacing = settings.get("resampledPixelSpacing")
  if not spacing:
    return False
  target = [float(new) if new else own for new, own in zip(spacing, image.GetSpacing())]
  return not np.allclose(image.GetSpacing(), target)
