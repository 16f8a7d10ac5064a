import numpy as np
import pytest
import torch

from radiomics_ssl.model import Encoder3d, Siam3d, encoder_flops


@pytest.mark.parametrize("shape", [(16, 16, 16), (20, 33, 17), (1, 9, 40)])
def test_encoder_accepts_any_input_size(shape):
  encoder = Encoder3d().eval()
  with torch.no_grad():
    out = encoder(torch.rand(2, 1, *shape) * 255)
  assert out.shape == (2, 256)
  assert torch.isfinite(out).all()


def test_table3_spatial_sizes_at_96():
  """96 -> 32 -> 10 -> 3 through the three max-pools, as Table 3 lists."""
  encoder = Encoder3d().eval()
  sizes, x = [], torch.rand(1, 1, 96, 96, 96)
  with torch.no_grad():
    for layer in encoder.trunk:
      x = layer(x)
      if x.dim() == 5:
        sizes.append(x.shape[2])
  assert sizes == [96, 96, 96, 32, 32, 10, 10, 3, 3, 1]


def test_table3_layer_widths():
  encoder = Encoder3d()
  convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv3d)]
  assert [c.out_channels for c in convs] == [32, 32, 32, 32, 32, 32, 32, 64, 128, 256]
  assert [c.kernel_size[0] for c in convs] == [3, 1, 3, 1, 1, 3, 1, 3, 3, 3]
  linears = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
  assert [(l.in_features, l.out_features) for l in linears] == [(256, 324), (324, 256)]


def test_flop_count_matches_a_direct_count_of_conv_macs():
  counted = 0
  encoder = Encoder3d().eval()

  def hook(module, inputs, output):
    nonlocal counted
    counted += 2 * output.numel() * module.in_channels * int(np.prod(module.kernel_size))

  handles = [m.register_forward_hook(hook) for m in encoder.modules() if isinstance(m, torch.nn.Conv3d)]
  with torch.no_grad():
    encoder(torch.rand(1, 1, 48, 48, 48))
  for handle in handles:
    handle.remove()
  linear = 2 * (256 * 324 + 324 * 256)
  assert encoder_flops(48) == counted + linear


def test_siam_targets_are_detached_and_predictions_are_not():
  model = Siam3d(Encoder3d()).train()
  x = torch.rand(3, 1, 16, 16, 16) * 255
  t1, t2, r1, r2 = model(x, x.flip(2))
  assert t1.requires_grad and t2.requires_grad
  assert not r1.requires_grad and not r2.requires_grad


def test_output_norm_standardises_training_targets_but_not_the_encoder():
  torch.manual_seed(0)
  model = Siam3d(Encoder3d(), output_norm=True).train()
  x = torch.rand(8, 1, 16, 16, 16) * 255
  _, _, r1, _ = model(x, x)
  torch.testing.assert_close(r1.mean(0), torch.zeros(256), atol=1e-4, rtol=0)
  assert set(model.encoder.state_dict()) == set(Encoder3d().state_dict())  # nothing extra in the weights
  assert not isinstance(Siam3d(Encoder3d(), output_norm=False).output_norm, torch.nn.BatchNorm1d)


def test_a_roi_channel_and_mask_pooling_keep_table3_tensors_apart_from_the_stem():
  plain, masked = Encoder3d(), Encoder3d(in_channels=2, pooling="mask")
  shapes = {name: tuple(t.shape) for name, t in plain.state_dict().items()}
  other = {name: tuple(t.shape) for name, t in masked.state_dict().items()}
  assert set(shapes) == set(other)
  assert [name for name in shapes if shapes[name] != other[name]] == ["trunk.0.0.weight"]
  assert masked.arguments == {"in_channels": 2, "width": 32, "hidden_dim": 324, "feature_dim": 256, "pooling": "mask"}
  assert "pooling" not in plain.arguments
  with pytest.raises(ValueError, match="pooling"):
    Encoder3d(pooling="mask")


def test_mask_pooling_averages_the_cells_the_roi_covers():
  from radiomics_ssl.model import mask_pool

  features = torch.arange(2 * 3 * 27, dtype=torch.float32).reshape(2, 3, 3, 3, 3)
  roi = torch.zeros(2, 1, 9, 9, 9)
  roi[0, :, 3:6, 3:6, 3:6] = 1  # the centre cell only
  pooled = mask_pool(features, roi)
  torch.testing.assert_close(pooled[0], features[0, :, 1, 1, 1])
  torch.testing.assert_close(pooled[1], features[1].mean(dim=(1, 2, 3)))  # no ROI: the plain mean
  masked = Encoder3d(in_channels=2, pooling="mask").eval()
  x = torch.rand(2, 2, 32, 32, 32) * 255
  x[:, 1] = 0
  x[:, 1, 12:20, 12:20, 12:20] = 255
  assert masked(x).shape == (2, 256)
  assert encoder_flops(32, masked.arguments) > encoder_flops(32, {"in_channels": 2})
