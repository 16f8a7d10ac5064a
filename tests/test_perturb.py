"""Each perturbation changes a case in the expected way (Zwanenburg et al. 2019 / MIRP), on a real
lung nodule and on synthetic volumes where the answer is known."""
import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl.config import PerturbationSettings
from radiomics_ssl import perturb

NODULE = "LIDC-IDRI-0001_R_1"


@pytest.fixture(scope="module")
def nodule(shared_data):
  folder = shared_data / "lidc"
  image = sitk.ReadImage(str(folder / "image" / f"{NODULE}.nii.gz"))
  mask = sitk.ReadImage(str(folder / "mask" / f"{NODULE}.nii.gz"))
  return perturb.crop_around_roi(image, mask, 10.0)


def array(image):
  return sitk.GetArrayFromImage(image)


def test_rotation_by_zero_and_no_shift_is_the_identity(nodule):
  image, mask = nodule
  moved, moved_mask = perturb.move(sitk.Cast(image, sitk.sitkFloat32), mask, 0.0, (0.0, 0.0, 0.0))
  np.testing.assert_allclose(array(moved), array(image), atol=1e-3)
  np.testing.assert_array_equal(array(moved_mask), array(mask) > 0)


def test_a_whole_voxel_shift_moves_the_roi_by_one_voxel_and_a_rotation_keeps_volume_and_centre():
  mask = sitk.Image([40, 40, 12], sitk.sitkUInt8)
  blob = np.zeros((12, 40, 40), np.uint8)
  blob[4:8, 10:31, 15:22] = 1  # an elongated box centred on a voxel (x 18, y 20)
  mask = sitk.GetImageFromArray(blob)
  image = sitk.GetImageFromArray((blob * 100.0 + np.arange(40)[None, None, :]).astype(np.float32))
  _, shifted = perturb.move(image, mask, 0.0, (1.0, 0.0, 0.0))
  np.testing.assert_array_equal(array(shifted)[:, :, :-1], blob[:, :, 1:])  # sampled one voxel further along x
  _, turned = perturb.move(image, mask, 90.0, (0.0, 0.0, 0.0))
  assert abs(array(turned).sum() / blob.sum() - 1) < 0.05
  extent = np.argwhere(array(turned))
  assert (extent[:, 2].max() - extent[:, 2].min()) > (extent[:, 1].max() - extent[:, 1].min())  # the long axis turned
  np.testing.assert_allclose(perturb.roi_centroid(turned), perturb.roi_centroid(mask), atol=1.0)


def test_the_noise_level_is_estimated_and_added_at_that_level():
  rng = np.random.default_rng(0)
  smooth = np.linspace(0, 200, 64)[None, None, :] + np.zeros((8, 64, 64))
  image = sitk.GetImageFromArray((smooth + rng.normal(0, 10.0, smooth.shape)).astype(np.float32))
  assert perturb.noise_level(image) == pytest.approx(10.0, rel=0.1)
  noisy = perturb.add_noise(image, 5.0, np.random.default_rng(1))
  assert np.std(array(noisy) - array(image)) == pytest.approx(5.0, rel=0.05)


@pytest.mark.parametrize("fraction", [-0.2, -0.1, 0.1, 0.2])
def test_volume_adaptation_changes_the_volume_by_the_set_fraction(nodule, fraction):
  _, mask = nodule
  original = array(mask) > 0
  adapted = array(perturb.adapt_volume(mask, fraction)) > 0
  assert abs(adapted.sum() / original.sum() - (1 + fraction)) <= 1 / original.sum()
  if fraction > 0:
    assert adapted[original].all()  # grown: the ROI is kept whole
  else:
    assert original[adapted].all()  # shrunk: nothing outside the ROI is added


def test_contour_randomisation_changes_the_border_and_replays_from_its_seed(nodule):
  image, mask = nodule
  original = array(mask) > 0
  first = array(perturb.randomise_contour(image, mask, 30, np.random.default_rng(7))) > 0
  again = array(perturb.randomise_contour(image, mask, 30, np.random.default_rng(7))) > 0
  np.testing.assert_array_equal(first, again)
  dice = 2 * (first & original).sum() / (first.sum() + original.sum())
  assert 0.6 < dice < 1.0
  from scipy import ndimage
  core = ndimage.binary_erosion(original, iterations=2)
  assert first[core].mean() > 0.8  # the ROI's core mostly stays; the border is what moves


def test_draw_replays_and_the_chain_switches_steps_off():
  settings = PerturbationSettings()
  assert perturb.draw(3, settings) == perturb.draw(3, settings)
  assert perturb.draw(3, settings) != perturb.draw(4, settings)
  drawn = perturb.draw(3, PerturbationSettings(chain=("volume",)))
  assert drawn.angle_deg == 0 and not drawn.noise and not drawn.contour and drawn.volume_fraction != 0
  assert abs(perturb.draw(3, settings).angle_deg) <= settings.rotation_deg
  with pytest.raises(ValueError, match="perturbation chain"):
    PerturbationSettings(chain=("spin",))
