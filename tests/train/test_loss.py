import pytest
import torch

from radiomics_ssl.model import Encoder3d, Siam3d
from radiomics_ssl.train.loss import collapse_std, negative_cosine, siam_loss, variance_covariance


@pytest.mark.parametrize("batch", [2, 3, 6, 17, 30])
def test_loss_is_symmetric_and_bounded(batch):
  generator = torch.Generator().manual_seed(batch)
  t1, t2, r1, r2 = (torch.randn(batch, 256, generator=generator) for _ in range(4))
  assert siam_loss(t1, t2, r1, r2) == pytest.approx(siam_loss(t2, t1, r2, r1).item(), abs=1e-6)
  assert -1 <= siam_loss(t1, t2, r1, r2).item() <= 1
  assert siam_loss(t1, t1, t1, t1).item() == pytest.approx(-1.0, abs=1e-6)


def test_eq2_pairs_each_prediction_with_the_other_views_target():
  e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
  # t1 = r1 and t2 = r2, orthogonal across views: S(t1, r2) = S(t2, r1) = 0 (same-view pairing would give -1)
  assert siam_loss(e1, e2, e1, e2).item() == pytest.approx(0.0)
  assert siam_loss(e1, e2, e2, e1).item() == pytest.approx(-1.0)


def test_weights_enter_as_weighted_mean():
  t = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
  r = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # per-sample losses: -1 and 0
  assert siam_loss(t, t, r, r, weights=[1.0, 3.0]).item() == pytest.approx((1 * -1 + 3 * 0) / 4)
  assert siam_loss(t, t, r, r, weights=[2.0, 2.0]).item() == pytest.approx(siam_loss(t, t, r, r).item())


def test_negative_cosine_is_scale_invariant():
  a, b = torch.randn(4, 8), torch.randn(4, 8)
  torch.testing.assert_close(negative_cosine(a, b), negative_cosine(3 * a, 0.5 * b))


def test_gradient_is_stopped_at_the_targets():
  """Eq. 2: r2 (E_f on x2) gets no gradient from the first term; x2 still gets one through t2."""
  torch.manual_seed(0)
  model = Siam3d(Encoder3d()).train()
  x1 = (torch.rand(4, 1, 16, 16, 16) * 255).requires_grad_()
  x2 = (torch.rand(4, 1, 16, 16, 16) * 255).requires_grad_()
  t1, t2, r1, r2 = model(x1, x2)
  first_term = negative_cosine(t1, r2).mean()
  first_term.backward()
  assert x2.grad is None and x1.grad is not None and x1.grad.abs().sum() > 0
  t1, t2, r1, r2 = model(x1, x2)
  siam_loss(t1, t2, r1, r2).backward()
  assert x2.grad is not None and x2.grad.abs().sum() > 0


def test_collapse_indicator():
  healthy = torch.randn(512, 256)
  assert collapse_std(healthy).item() == pytest.approx(1 / 16, rel=0.05)
  assert collapse_std(torch.ones(8, 256)).item() == pytest.approx(0.0, abs=1e-6)


def test_vicreg_terms_see_collapse_and_redundancy():
  """The variance term is near gamma for identical rows and near 0 for unit-spread ones; the
  covariance term is near 0 for independent dimensions and large when dimensions repeat each other."""
  torch.manual_seed(0)
  spread = torch.randn(4096, 32)
  variance, covariance = variance_covariance(spread)
  assert variance.item() < 0.03 and covariance.item() < 0.02
  collapsed_variance, collapsed_covariance = variance_covariance(torch.ones(64, 32))
  assert collapsed_variance.item() == pytest.approx(1 - 1e-2, abs=1e-3) and collapsed_covariance.item() == 0
  redundant = spread[:, :1].repeat(1, 32)
  assert variance_covariance(redundant)[1].item() == pytest.approx(31, rel=0.1)  # 32*31 off-diagonal 1s / 32

