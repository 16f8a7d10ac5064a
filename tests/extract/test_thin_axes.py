"""B-spline resampling of images with a two-voxel axis: ITK reads outside its buffer there; the guard
(extract/thin_axes.py) makes the values defined, and leaves every other image as stock pyradiomics has it."""
import csv
import logging

import numpy as np
import pytest
import SimpleITK as sitk

import radiomics
from radiomics import featureextractor, imageoperations
from radiomics_ssl.extract import thin_axes

# LIDC dev nodules whose crop spans two slices; stock pyradiomics failed on each at random
# ("Calculation of GLCM Failed") in runs of the whole cohort.
THIN_NODULES = ("LIDC-IDRI-0005_R_1", "LIDC-IDRI-0124_R_9", "LIDC-IDRI-0586_R_2")
CT_SETTINGS = dict(label=1, binWidth=25, resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline", preCrop=True,
                   voxelArrayShift=1000)


def two_slice_image(seed=0):
  rng = np.random.default_rng(seed)
  image = sitk.GetImageFromArray(rng.integers(-1000, 400, (2, 12, 12)).astype(np.int16))
  image.SetSpacing((0.7, 0.7, 2.5))
  image.SetOrigin((3.0, -2.0, 10.0))
  return image


def resample(image, interpolator=sitk.sitkBSpline):
  """`image` on a 1 mm grid over the two-slice image's extent, as float32."""
  grid = sitk.Image([8, 8, 5], sitk.sitkInt16)
  grid.SetSpacing((1.0, 1.0, 1.0))
  grid.SetOrigin(two_slice_image().TransformContinuousIndexToPhysicalPoint((-0.2, -0.2, -0.3)))
  return sitk.GetArrayFromImage(sitk.Resample(image, grid, sitk.Transform(), interpolator, 0.0, sitk.sitkFloat32))


def test_padding_keeps_every_voxel_where_it_was_and_mirrors_the_thin_axis():
  image = two_slice_image()
  padded = thin_axes.pad_thin_axes(image)
  assert padded.GetSize() == (12, 12, 2 + 2 * thin_axes.PAD)
  original, mirrored = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(padded)
  np.testing.assert_array_equal(mirrored[thin_axes.PAD:thin_axes.PAD + 2], original)
  np.testing.assert_array_equal(mirrored[0::2], np.broadcast_to(original[1], mirrored[0::2].shape))  # b a b a ...
  for index in [(0, 0, 0), (11, 5, 1)]:
    shifted = (index[0], index[1], index[2] + thin_axes.PAD)
    assert padded.TransformIndexToPhysicalPoint(shifted) == pytest.approx(image.TransformIndexToPhysicalPoint(index))


def test_an_image_without_a_two_voxel_axis_is_passed_through_untouched():
  image = sitk.GetImageFromArray(np.zeros((3, 2 + 1, 4), np.int16))
  assert thin_axes.pad_thin_axes(image) is image


@pytest.mark.parametrize("interpolator", ["sitkBSpline", "sitkBSpline5"])
def test_guarded_b_spline_values_are_defined(interpolator):
  """Resampling the padded image gives one answer, run after run, and the same answer (to float
  rounding) as a twice-larger mirror pad: the values are those of ITK's own mirror extension."""
  padded = thin_axes.pad_thin_axes(two_slice_image())
  runs = [resample(padded, getattr(sitk, interpolator)) for _ in range(20)]
  assert all(np.array_equal(runs[0], run) for run in runs)
  wider = sitk.GetImageFromArray(np.pad(sitk.GetArrayFromImage(two_slice_image()), [(6, 6), (0, 0), (0, 0)],
                                        mode="reflect"))
  wider.SetSpacing(padded.GetSpacing())
  wider.SetOrigin(two_slice_image().TransformContinuousIndexToPhysicalPoint((0.0, 0.0, -6.0)))
  np.testing.assert_allclose(resample(wider, getattr(sitk, interpolator)), runs[0], rtol=0, atol=1e-3)


@pytest.mark.parametrize("interpolator, expected", [("sitkBSpline", True), (sitk.sitkBSpline, True),
                                                    ("sitkBSplineResamplerOrder4", True), ("sitkLinear", False),
                                                    ("sitkBSpline2", False), (sitk.sitkNearestNeighbor, False)])
def test_only_splines_of_order_three_to_five_are_guarded(interpolator, expected):
  assert thin_axes.affected(interpolator) is expected


@pytest.fixture(scope="module")
def thin_nodules(shared_data):
  folder = shared_data / "lidc"
  with open(folder / "labels.csv", newline="") as stream:
    known = {row["case_id"] for row in csv.DictReader(stream)}
  assert set(THIN_NODULES) <= known
  for case in THIN_NODULES:
    assert sitk.ReadImage(str(folder / "image" / f"{case}.nii.gz")).GetSize()[2] == 2
  return [(str(folder / "image" / f"{c}.nii.gz"), str(folder / "mask" / f"{c}.nii.gz")) for c in THIN_NODULES]


def ssl_road(guard=True, classes=("firstorder", "glcm", "ssl")):
  """An extractor on the ssl road (first-order, GLCM and ssl), with the thin-axis guard on or off."""
  extractor = featureextractor.RadiomicsFeatureExtractor(**CT_SETTINGS, sslThinAxisGuard=guard, sslModality="CT",
                                                          sslWeights="ct-lung-untrained")
  extractor.disableAllFeatures()
  for name in classes:
    extractor.enableFeatureClassByName(name)
  return extractor


def classical_values(vector):
  return [float(v) for k, v in vector.items() if k.startswith("original_") and "_ssl_" not in k]


def test_classical_features_of_thin_nodules_are_identical_run_after_run(thin_nodules):
  """Stock pyradiomics failed on these at random; on the ssl road with the guard, five runs give the same values."""
  radiomics.setVerbosity(logging.ERROR)
  extractor = ssl_road()
  for image, mask in thin_nodules:
    runs = [extractor.execute(image, mask) for _ in range(5)]
    values = [classical_values(run) for run in runs]
    assert len(values[0]) == 42
    assert all(np.array_equal(values[0], other, equal_nan=True) for other in values[1:])
    assert runs[0]["diagnostics_Image-original_Size"][2] == 2  # the diagnostics describe the user's image
    assert -1100 < runs[0]["original_firstorder_Maximum"] < 500  # HU, not a value read outside a buffer
  assert not getattr(imageoperations.resampleImage, "thin_axis_guard", False)  # scoped to each call


class ResamplingSpy:
  """pyradiomics' resampleImage, recording the size of each image it is handed."""

  def __init__(self, monkeypatch):
    self.stock, self.sizes = imageoperations.resampleImage, []
    monkeypatch.setattr(imageoperations, "resampleImage", self)

  def __call__(self, imageNode, maskNode, **kwargs):
    self.sizes.append(imageNode.GetSize())
    return self.stock(imageNode, maskNode, **kwargs)


def test_the_guard_turned_off_is_stock_pyradiomics_on_a_two_slice_nodule(thin_nodules, monkeypatch):
  """sslThinAxisGuard: false hands pyradiomics' own resampling the user's image, as stock pyradiomics
  does; its values then are stock pyradiomics' (random near the thin edge), so the parts that do not
  read the image (shape, the mask's diagnostics) are compared exactly, and the image handed over."""
  radiomics.setVerbosity(logging.ERROR)
  image, mask = thin_nodules[2]
  spy = ResamplingSpy(monkeypatch)
  stock = featureextractor.RadiomicsFeatureExtractor(**CT_SETTINGS)
  stock.disableAllFeatures()
  stock.enableFeatureClassByName("shape")
  stock_vector = stock.execute(image, mask)
  off_vector = ssl_road(guard=False, classes=("shape", "ssl")).execute(image, mask)  # no GLCM: it fails at random there
  ssl_road(guard=True, classes=("shape", "ssl")).execute(image, mask)
  assert [size[2] for size in spy.sizes] == [2, 2, 2 + 2 * thin_axes.PAD]  # stock, guard off, guard on
  reads_the_image = ("_Mean", "_Minimum", "_Maximum")  # the image's values inside the mask: random near the edge
  compared = [key for key in stock_vector if "_shape_" in key or
              (key.startswith("diagnostics_Mask") and not key.endswith(reads_the_image))]
  assert len(compared) > 20
  for key in compared:
    assert off_vector[key] == stock_vector[key], key
  assert imageoperations.resampleImage is spy  # the road restored what it found
