import pytest
import torch

from radiomics_ssl.config import Augment
from radiomics_ssl.train import augment

PAPER = Augment(context=1.0, rotation_deg=20.0, scale=(0.7, 1.3), shift=0.05, flip=False, gamma=(0.7, 1.5),
                sharpen=(0.0, 1.0), blur_sigma=(0.0, 1.0), noise_std=(0.0, 10.0))  # params/train/paper.yaml


@pytest.fixture
def batch():
  return torch.rand(3, 1, 16, 18, 20, generator=torch.Generator().manual_seed(0)) * 255


def test_identity_parameters_leave_the_batch_unchanged(batch):
  out = augment.apply(batch, augment.identity_params(3))
  torch.testing.assert_close(out, batch, rtol=0, atol=0)


def test_affine_with_identity_grid_is_identity_up_to_interpolation(batch):
  params = augment.identity_params(3)
  params["scale"] = torch.tensor([1.0, 1.0, 1.0 + 1e-7])  # forces the grid path
  torch.testing.assert_close(augment.apply(batch, params), batch, rtol=0, atol=1e-3)


def test_each_transform_changes_the_batch_and_keeps_its_shape(batch):
  for name, value in (("rotation", torch.full((3, 3), 0.2)), ("scale", torch.full((3,), 1.2)),
                      ("shift", torch.full((3, 3), 0.05)), ("gamma", torch.full((3,), 1.4)),
                      ("sharpen", torch.full((3,), 0.8)), ("blur", torch.full((3,), 1.0)),
                      ("noise", torch.full((3,), 5.0))):
    params = augment.identity_params(3)
    params[name] = value
    out = augment.apply(batch, params)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert not torch.equal(out, batch), name


def test_sampled_parameters_respect_the_ranges():
  config = PAPER
  params = augment.sample_params(2000, config, torch.Generator().manual_seed(1))
  limit = torch.deg2rad(torch.tensor(config.rotation_deg))
  assert params["rotation"].abs().max() <= limit
  assert config.scale[0] <= params["scale"].min() and params["scale"].max() <= config.scale[1]
  assert params["shift"].abs().max() <= config.shift
  gamma = params["gamma"][params["gamma"] != 1]
  assert config.gamma[0] <= gamma.min() and gamma.max() <= config.gamma[1]
  assert 0.4 < (params["gamma"] != 1).float().mean() < 0.6  # applied with probability 0.5
  assert params["blur"].max() <= config.blur_sigma[1] and params["noise"].max() <= config.noise_std[1]


def test_a_seed_replays_exactly(batch):
  def draw():
    params = augment.sample_params(3, PAPER, torch.Generator().manual_seed(42))
    return params, augment.apply(batch, params)

  (p1, out1), (p2, out2) = draw(), draw()
  for key in p1:
    torch.testing.assert_close(p1[key], p2[key], rtol=0, atol=0)
  torch.testing.assert_close(out1, out2, rtol=0, atol=0)
  torch.testing.assert_close(augment.apply(batch, p1), out1, rtol=0, atol=0)  # fixed parameters replay


def test_gamma_keeps_the_intensity_range(batch):
  params = augment.identity_params(3)
  params["gamma"] = torch.tensor([0.7, 1.0, 1.5])
  out = augment.apply(batch, params)
  assert out.min() >= 0 and out.max() <= 255
  assert (out[0] >= batch[0] - 1e-4).all() and (out[2] <= batch[2] + 1e-4).all()


def test_a_flip_mirrors_exactly_the_axes_asked_for(batch):
  axes = torch.tensor([[True, False, False], [False, True, False], [True, False, True]])
  out = augment.flip(batch, axes)
  torch.testing.assert_close(out[0], batch[0].flip(1), rtol=0, atol=0)  # (C, D, H, W): axis 0 is D
  torch.testing.assert_close(out[1], batch[1].flip(2), rtol=0, atol=0)
  torch.testing.assert_close(out[2], batch[2].flip([1, 3]), rtol=0, atol=0)
  torch.testing.assert_close(augment.flip(out, axes), batch, rtol=0, atol=0)  # twice is the identity
  assert out[0, 0, 0, 3, 4] == batch[0, 0, -1, 3, 4]


def test_zero_shift_and_zero_rotation_are_the_identity_and_a_whole_voxel_shift_moves_by_one_voxel():
  cube = torch.rand(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(3)) * 255
  params = augment.identity_params(2)
  params["rotation"] = torch.zeros(2, 3)
  params["shift"] = torch.zeros(2, 3)
  torch.testing.assert_close(augment.apply(cube, params), cube, rtol=0, atol=0)
  shifted = augment.affine(cube, torch.zeros(2, 3), torch.ones(2), torch.tensor([[1 / 16, 0.0, 0.0]] * 2))
  # the sampling grid moves by +1 voxel along x (W): output voxel i reads input voxel i + 1
  torch.testing.assert_close(shifted[..., :-1], cube[..., 1:], rtol=0, atol=1e-3)
  assert shifted[..., -1].abs().max() == 0  # outside the input is background


def test_a_quarter_turn_is_a_rot90():
  cube = torch.rand(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(4)) * 255
  turned = augment.affine(cube, torch.tensor([[0.0, 0.0, torch.pi / 2]]), torch.ones(1), torch.zeros(1, 3))
  expected = [torch.rot90(cube, k, dims=(3, 4)) for k in (1, -1)]  # about z: in the (H, W) plane
  assert min((turned - e).abs().max().item() for e in expected) < 1e-2


def test_the_intensity_shift_moves_the_histogram_by_the_drawn_amount():
  x = torch.full((2, 1, 4, 4, 4), 100.0)
  x[:, :, 0] = 250.0
  out = augment.intensity_shift(x, torch.tensor([20.0, -30.0]))
  assert torch.equal(out[0, :, 1:], torch.full_like(out[0, :, 1:], 120.0))
  assert torch.equal(out[1, :, 1:], torch.full_like(out[1, :, 1:], 70.0))
  assert out[0, :, 0].max() == 255 and out[1, :, 0].min() == 220  # clipped to [0, 255]
  params = augment.sample_params(500, Augment(shift=0.0, flip=False, intensity_shift=40.0, probability=1.0), torch.Generator().manual_seed(2))
  drawn = params["intensity_shift"]
  assert drawn.abs().max() <= 40 and drawn.std() > 10
  views = augment.apply(torch.full((500, 1, 2, 2, 2), 128.0), params)
  torch.testing.assert_close(views.mean(dim=(1, 2, 3, 4)) - 128.0, drawn, rtol=0, atol=1e-4)


def test_a_roi_channel_follows_the_geometry_only_and_stays_binary():
  image = torch.rand(3, 1, 16, 16, 16, generator=torch.Generator().manual_seed(1)) * 255
  roi = torch.zeros(3, 1, 16, 16, 16)
  roi[:, :, 5:11, 4:12, 6:10] = 255
  params = augment.sample_params(3, PAPER, torch.Generator().manual_seed(2))
  params["noise"] = torch.full((3,), 5.0)
  params["gamma"] = torch.full((3,), 1.4)
  out = augment.apply(torch.cat([image, roi], dim=1), params)
  torch.testing.assert_close(out[:, :1], augment.apply(image, params), rtol=0, atol=0)  # the image as alone
  assert set(out[:, 1].unique().tolist()) <= {0.0, 255.0}
  geometry = dict(augment.identity_params(3), rotation=params["rotation"], scale=params["scale"], shift=params["shift"],
                  flip=params["flip"])
  moved = augment.apply(roi, geometry)
  assert ((moved >= 127.5).float() * 255 == out[:, 1:]).float().mean() == 1.0
