"""Views that vary the segmentation (train/views.py), on real lung nodules: each view of a pair gets its
own plausible perturbed contour, every version replays from its seed, and a run trains and writes
weights with the ROI as a second channel."""
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from radiomics_ssl import weights as weights_io
from radiomics_ssl.cases import load_case
from radiomics_ssl.config import Augment, Contract, TrainConfig
from radiomics_ssl.datasets import cohort_rows, write_batch_csv
from radiomics_ssl.inference import LoadedEncoder
from radiomics_ssl.preprocess import prepare_roi
from radiomics_ssl import perturb
from radiomics_ssl.train import views
from radiomics_ssl.train.augment import region_size

CUBE = Contract.for_modality("CT", box=16, spacing_mm=2.0, window=(-1000.0, 400.0), context="cube", roi_channel=True,
                             pooling="mask")
NODULE = "LIDC-IDRI-0001_R_1"


@pytest.fixture(scope="module")
def nodule(shared_data):
  folder = shared_data / "lidc"
  return load_case(str(folder / "image" / f"{NODULE}.nii.gz"), str(folder / "mask" / f"{NODULE}.nii.gz"))


def test_volume_adaptation_versions_change_the_volume_by_their_drawn_fraction_and_replay(nodule):
  image, mask = nodule
  augment = Augment(perturbations=("volume",), variants=4)
  images, rois = views.case_versions(image, mask, 1, CUBE, 24, augment, seed=0, case_key="k")
  again = views.case_versions(image, mask, 1, CUBE, 24, augment, seed=0, case_key="k")
  np.testing.assert_array_equal(images, again[0])
  np.testing.assert_array_equal(rois, again[1])
  assert images.shape == rois.shape == (5, 24, 24, 24)
  volume = int((sitk.GetArrayViewFromImage(mask) > 0).sum())
  settings = views.perturbation_settings(augment)
  cropped = perturb.crop_around_roi(image, mask, 24 * CUBE.spacing_mm)
  for version in range(1, 5):
    drawn = perturb.draw(views.version_seed(0, "k", version), settings)
    assert abs(drawn.volume_fraction) <= settings.volume_fraction and drawn.angle_deg == 0.0
    replayed_image, replayed_mask = perturb.apply(*cropped, drawn, settings)
    changed = int(sitk.GetArrayViewFromImage(replayed_mask).sum())
    assert abs(changed / volume - (1 + drawn.volume_fraction)) <= 1 / volume
    np.testing.assert_array_equal(prepare_roi(replayed_image, replayed_mask, 1, CUBE, 24).roi, rois[version])
  assert len({rois[v].sum() for v in range(5)}) == 5


def test_each_view_of_a_pair_gets_its_own_plausible_perturbed_contour(nodule):
  image, mask = nodule
  augment = Augment(perturbations=("rotation", "noise", "contour"), variants=4)
  images, rois = views.case_versions(image, mask, 1, CUBE, 24, augment, seed=3, case_key="k")
  regions = views.Regions(np.stack([images, images]), np.stack([rois, rois]))
  first, second = regions.draw_versions(2, torch.Generator().manual_seed(0))
  assert ((first >= 1) & (second >= 1) & (first != second)).all()
  one, other = regions.inputs([0, 1], first), regions.inputs([0, 1], second)
  assert one.shape == (2, 2, 24, 24, 24)
  for a, b in zip(one, other):
    assert not torch.equal(a[1], b[1])  # the two views' contours differ
    assert not torch.equal(a[0], b[0])  # and so do their images (rotation, noise)
  unperturbed = rois[0].sum()
  for version in range(1, 5):
    assert 0.6 < rois[version].sum() / unperturbed < 1.4  # a second reader's contour, not another ROI
    overlap = (rois[version] & rois[0]).sum() / np.maximum(rois[version], rois[0]).sum()
    assert overlap > 0.6
  assert views.Regions(images[None, :1], rois[None, :1]).draw_versions(2, torch.Generator()) is None


def test_a_run_with_perturbed_views_and_a_roi_channel_trains_and_writes_weights(shared_data, tmp_path):
  from radiomics_ssl.train.cli import run

  cases = write_batch_csv(tmp_path / "nodules.csv", cohort_rows(shared_data, "lidc")[:8])
  config = TrainConfig(contract=CUBE, augment=Augment(perturbations=("rotation", "noise", "contour"), variants=3),
                       batch_size=4, iterations=2, warmup_epochs=0, rank_every=1, rank_cases=8, checkpoint_every=1,
                       variance_weight=1.0, covariance_weight=0.04, export="last", device="cpu", seed=0)
  path = run(config, str(cases), str(tmp_path / "run"), str(tmp_path / "cache"))
  loaded = weights_io.load(path)
  assert loaded.metadata["arguments"]["in_channels"] == 2 and loaded.metadata["arguments"]["pooling"] == "mask"
  assert loaded.contract == CUBE and loaded.metadata["training"]["config"]["augment"]["variants"] == 3
  image, mask = load_case(*[cohort_rows(shared_data, "lidc")[0][c] for c in ("Image", "Mask")])
  prepared = prepare_roi(image, mask, 1, loaded.contract)
  features = LoadedEncoder(loaded, torch.device("cpu")).encode_rois([prepared])[0]
  assert features.shape == (256,) and np.isfinite(features).all()
  cached = sorted((tmp_path / "cache").glob("*.npz"))
  assert len(cached) == 8
  with np.load(cached[0]) as stored:
    assert stored["images"].shape == (4,) + (region_size(16, 1.5),) * 3 and stored["rois"].dtype == np.uint8


def test_a_window_over_the_cube_trains_on_what_extraction_sees(shared_data, tmp_path):
  """PREREGISTRATION-5.md's MR window (`window_region: cube`, 96 mm) reads the image beyond the ROI's
  box, so the trainer reads the case as loaded, as extraction does, not pyradiomics' tight crop: the
  centre of its cached region is extraction's box, to float rounding."""
  from radiomics_ssl.cases import crop_to_roi
  from radiomics_ssl.train.data import load_training_regions

  row = cohort_rows(shared_data, "sts-mr")[0]
  cases = write_batch_csv(tmp_path / "mr.csv", [row])
  contract = Contract.for_modality("MR", window_region="cube")
  box = contract.box
  regions, _ = load_training_regions(cases, TrainConfig(contract=contract), str(tmp_path / "cache"),
                                     size=region_size(box, 1.5))
  image, mask = load_case(row["Image"], row["Mask"])
  extraction = prepare_roi(image, mask, 1, contract)
  assert extraction.window != prepare_roi(*crop_to_roi(image, mask), 1, contract).window  # the crop would differ
  start = (regions.images.shape[-1] - box) // 2
  centre = regions.images[0, 0].numpy()[start:start + box, start:start + box, start:start + box]
  assert np.allclose(centre, extraction.box, atol=1e-3)
