"""`prepare_roi` with a ContextContract (results/lidc/PREREGISTRATION-5.md), on real cases: a cube of
real image around the ROI, the ROI as a second channel, an MR window over the cube, and the older
contracts' values whatever the caller cropped."""
import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl.config import PerturbationSettings
from radiomics_ssl.cases import crop_to_roi, load_case
from radiomics_ssl.config import Contract, ContextContract
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl import perturb

LUNG = Contract.for_modality("CT", spacing_mm=1.0, window=(-1000.0, 400.0))  # A1
CUBE = Contract.for_modality("CT", spacing_mm=1.0, window=(-1000.0, 400.0), context="cube", roi_channel=True)  # A7
MR_CUBE = Contract.for_modality("MR", window_region="cube")


@pytest.fixture(scope="module")
def lung(pyradiomics_cases):
  """A whole lung CT (pyradiomics' lung1) and its 15 mm tumour."""
  return load_case(*pyradiomics_cases["lung1"])


@pytest.fixture(scope="module")
def sts_mr(shared_data):
  folder = shared_data / "sts" / "STS_001"
  return load_case(str(folder / "MR_T1_image.nii.gz"), str(folder / "MR_T1_mask.nii.gz"))


def roi_centroid(roi):
  return np.argwhere(roi).mean(axis=0)


def test_older_contracts_give_the_same_values_from_the_whole_image_and_from_pyradiomics_crop(lung, sts_mr):
  for (image, mask), contract in ((lung, LUNG), (sts_mr, Contract.for_modality("MR"))):
    whole = prepare_roi(image, mask, 1, contract, 48)
    cropped = prepare_roi(*crop_to_roi(image, mask), 1, contract, 48)
    np.testing.assert_array_equal(whole.boxes, cropped.boxes)
    np.testing.assert_array_equal(whole.rois, cropped.rois)
    assert whole.window == cropped.window and type(contract) is Contract


def test_the_cube_is_centred_on_the_roi_and_holds_real_image_beyond_the_tight_crop(lung):
  image, mask = lung
  cube, crop = prepare_roi(image, mask, 1, CUBE), prepare_roi(image, mask, 1, LUNG)
  np.testing.assert_array_equal(cube.rois, crop.rois)  # the same grid, centred on the ROI's bounding box
  np.testing.assert_allclose(roi_centroid(cube.roi), [15.5] * 3, atol=3.0)
  bounds = np.argwhere(cube.roi)
  outside = np.ones(cube.roi.shape, bool)
  outside[tuple(slice(lo, hi + 1) for lo, hi in zip(bounds.min(0), bounds.max(0)))] = False
  assert outside.sum() > 1000
  assert crop.box[outside].max() == 0.0  # the crop contract fills beyond the ROI's bounding box
  assert (cube.box[outside] > 0).mean() > 0.9 and cube.coverage == 1.0  # the cube holds lung and chest wall


def test_the_cube_does_not_depend_on_how_much_image_beyond_it_the_caller_gives(lung):
  image, mask = lung
  whole = prepare_roi(image, mask, 1, CUBE, 48)
  part = prepare_roi(*perturb.crop_around_roi(image, mask, 40.0), 1, CUBE, 48)
  np.testing.assert_array_equal(whole.boxes, part.boxes)
  np.testing.assert_array_equal(whole.rois, part.rois)


def test_the_roi_channel_is_the_mask_and_the_cube_refuses_a_tight_crop(lung):
  image, mask = lung
  prepared = prepare_roi(image, mask, 1, CUBE)
  inputs = prepared.inputs
  assert inputs.shape == (1, 2, 32, 32, 32) and inputs.dtype == np.float32
  np.testing.assert_array_equal(inputs[:, 0], prepared.boxes)
  np.testing.assert_array_equal(inputs[:, 1], prepared.rois * 255.0)
  assert set(np.unique(inputs[:, 1])) == {0.0, 255.0}
  assert prepare_roi(image, mask, 1, LUNG).inputs.shape == (1, 1, 32, 32, 32)
  with pytest.raises(ValueError, match="before pyradiomics' crop"):
    prepare_roi(*crop_to_roi(image, mask), 1, CUBE)


def test_a_lidc_crop_gives_real_image_in_plane_and_fill_beyond_its_slices(shared_data):
  folder = shared_data / "lidc"
  image, mask = load_case(str(folder / "image" / "LIDC-IDRI-0001_R_1.nii.gz"), str(folder / "mask" / "LIDC-IDRI-0001_R_1.nii.gz"))
  prepared = prepare_roi(image, mask, 1, CUBE)
  assert 0.1 < prepared.coverage < 1.0  # the crop covers only the nodule's slices in z
  assert isinstance(CUBE, ContextContract) and CUBE.channels == 2


def test_the_mr_cube_window_does_not_follow_the_contour(sts_mr):
  image, mask = sts_mr
  image, mask = perturb.crop_around_roi(image, mask, 60.0)
  original = prepare_roi(image, mask, 1, MR_CUBE)
  by_roi = prepare_roi(image, mask, 1, Contract.for_modality("MR"))
  inside = sitk.GetArrayFromImage(mask) > 0
  bounds = np.argwhere(inside)
  settings = PerturbationSettings(chain=("volume", "contour"))
  roi_moves, cube_moves = [], []
  for seed in range(4):
    _, perturbed = perturb.apply(image, mask, perturb.draw(seed, settings), settings)
    kept = np.zeros_like(inside)  # the new contour within the old bounding box, touching its corners
    box = tuple(slice(lo, hi + 1) for lo, hi in zip(bounds.min(0), bounds.max(0)))
    kept[box] = (sitk.GetArrayFromImage(perturbed) > 0)[box]
    kept[tuple(bounds.min(0))] = kept[tuple(bounds.max(0))] = True
    assert (kept != inside).sum() > 100
    same_box = sitk.GetImageFromArray(kept.astype(np.uint8))
    same_box.CopyInformation(mask)
    assert prepare_roi(image, same_box, 1, MR_CUBE).window == original.window  # identical
    width = original.window[1] - original.window[0]
    cube_moves.append(np.abs(np.subtract(prepare_roi(image, perturbed, 1, MR_CUBE).window, original.window)).max() / width)
    roi_moves.append(np.abs(np.subtract(prepare_roi(image, perturbed, 1, Contract.for_modality("MR")).window,
                                        by_roi.window)).max() / (by_roi.window[1] - by_roi.window[0]))
  # a new bounding box moves the cube by up to half a 3.3 mm slice: its faces change, not the contour
  assert max(cube_moves) < 0.05 and np.mean(cube_moves) < np.mean(roi_moves) / 2
