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
