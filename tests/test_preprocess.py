import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl.cases import crop_to_roi, load_case
from radiomics_ssl.config import Contract
from radiomics_ssl.preprocess import prepare_roi


def sphere_case(radius_mm, spacing=(1.0, 1.0, 1.0), size=(80, 80, 40), value=100.0, noise=0.0, seed=0):
  rng = np.random.default_rng(seed)
  zyx = np.indices(size[::-1]).astype(float)
  centre = (np.array(size[::-1]) - 1) / 2
  distance = np.sqrt(sum(((zyx[i] - centre[i]) * spacing[::-1][i]) ** 2 for i in range(3)))
  inside = distance <= radius_mm
  pixels = np.where(inside, value, 0.0) + rng.normal(0, noise, inside.shape) if noise else np.where(inside, value, 0.0)
  image = sitk.GetImageFromArray(pixels.astype(np.float32))
  mask = sitk.GetImageFromArray(inside.astype(np.uint8))
  for item in (image, mask):
    item.SetSpacing(spacing)
  return image, mask


def test_box_shape_range_and_roi_centred():
  image, mask = sphere_case(10, noise=5)
  prepared = prepare_roi(*crop_to_roi(image, mask), 1, Contract(box=32, spacing_mm=1.0))
  assert prepared.box.shape == (32, 32, 32) and prepared.box.dtype == np.float32
  assert prepared.box.min() >= 0 and prepared.box.max() <= 255
  centroid = np.argwhere(prepared.roi).mean(axis=0)
  np.testing.assert_allclose(centroid, [15.5] * 3, atol=0.75)


def test_roi_volume_is_preserved_in_physical_units():
  image, mask = sphere_case(8, spacing=(0.5, 0.5, 2.0), size=(80, 80, 20))
  prepared = prepare_roi(*crop_to_roi(image, mask), 1, Contract(box=24, spacing_mm=1.0))
  expected = 4 / 3 * np.pi * 8 ** 3
  assert abs(prepared.roi.sum() - expected) / expected < 0.12


def test_large_roi_resize_fits_whole_roi_and_crop_keeps_spacing():
  image, mask = sphere_case(30)  # 60 mm across, box covers 32 mm
  resized = prepare_roi(*crop_to_roi(image, mask), 1, Contract(box=16, spacing_mm=2.0, large_roi="resize"))
  cropped = prepare_roi(*crop_to_roi(image, mask), 1, Contract(box=16, spacing_mm=2.0, large_roi="crop"))
  assert resized.spacing_mm == pytest.approx(61 / 16, rel=0.02)
  assert cropped.spacing_mm == 2.0
  assert resized.roi[0].sum() == 0 and resized.roi[8].sum() > 0  # whole sphere inside, background at the faces
  assert cropped.roi.all()  # the crop lies inside the sphere


def test_small_roi_keeps_contract_spacing_and_pads_with_background():
  image, mask = sphere_case(4)
  prepared = prepare_roi(*crop_to_roi(image, mask), 1, Contract(box=24, spacing_mm=1.0))
  assert prepared.spacing_mm == 1.0
  assert prepared.box[0].max() == 0.0 and prepared.box[:, :, -1].max() == 0.0


def test_percentile_and_fixed_intensity_mapping():
  image, mask = sphere_case(10)
  ramp = sitk.GetImageFromArray(np.broadcast_to(np.arange(80, dtype=np.float32) * 10, (40, 80, 80)).copy())
  ramp.CopyInformation(image)
  by_percentile = prepare_roi(*crop_to_roi(ramp, mask), 1, Contract(box=24, spacing_mm=1.0, window=(0, 100)))
  inside = by_percentile.box[by_percentile.roi.astype(bool)]
  assert inside.min() < 20 and inside.max() > 235
  assert np.all(np.diff(by_percentile.box[12, 12, 3:21]) > 0)  # the ramp stays monotonic
  crop = crop_to_roi(image, mask)
  fixed = prepare_roi(*crop, 1, Contract(box=16, spacing_mm=1.0, intensity="fixed", window=(0, 1000)))
  inside = fixed.box[fixed.roi.astype(bool)]
  assert 15 < inside.mean() < 36  # ~100/1000 of 255, blurred by linear interpolation at the edge


def test_mask_background_zeroes_outside_the_roi():
  image, mask = sphere_case(10, noise=20, value=300)
  prepared = prepare_roi(*crop_to_roi(image, mask), 1, Contract(box=24, spacing_mm=1.0, mask_background=True))
  assert prepared.box[prepared.roi == 0].max() == 0
  assert prepared.box[prepared.roi == 1].mean() > 50


def test_nan_in_roi_and_absent_label_are_refused():
  image, mask = sphere_case(6)
  pixels = sitk.GetArrayFromImage(image)
  pixels[20, 40, 40] = np.nan
  bad = sitk.GetImageFromArray(pixels)
  bad.CopyInformation(image)
  with pytest.raises(ValueError, match="NaN"):
    prepare_roi(bad, mask, 1, Contract())
  with pytest.raises(ValueError, match="label 2 is absent from the mask"):
    prepare_roi(image, mask, 2, Contract())


def test_real_case_is_deterministic_and_direction_aware(pyradiomics_cases):
  image, mask = load_case(*pyradiomics_cases["breast1"])
  crop = crop_to_roi(image, mask)
  contract = Contract(box=24, spacing_mm=2.0, large_roi="resize")
  first = prepare_roi(*crop, 1, contract)
  second = prepare_roi(*crop, 1, contract)
  np.testing.assert_array_equal(first.box, second.box)
  in_roi = sitk.GetArrayFromImage(crop[1]) == 1
  volume_mm3 = in_roi.sum() * np.prod(crop[0].GetSpacing())
  assert first.roi.sum() * 2.0 ** 3 == pytest.approx(volume_mm3, rel=0.35)


def test_a_crop_that_misses_a_non_convex_roi_recentres_on_its_nearest_voxel():
  """A U-shaped ROI (as a mandible) wider than the box has no voxel at its bounding box's centre."""
  image, _ = sphere_case(5, size=(120, 120, 20), noise=5)
  u_shape = np.zeros((20, 120, 120), np.uint8)
  u_shape[8:12, 10:110, 10:16] = u_shape[8:12, 10:110, 104:110] = u_shape[8:12, 104:110, 10:110] = 1
  mask = sitk.GetImageFromArray(u_shape)
  contract = Contract(box=16, spacing_mm=2.0, large_roi="crop")
  prepared = prepare_roi(*crop_to_roi(image, mask), 1, contract)
  assert prepared.fit == "cropped" and prepared.roi.sum() > 0
