"""The Rubik's cube pretext task (Zhuang et al., MICCAI 2019; the paper's reference [25]).

A box is cut into 2x2x2 sub-cubes; they are shuffled by one of K permutations chosen far apart
in Hamming distance, and each cube is rotated by 180 degrees about its vertical and/or horizontal
axis at random. The shared encoder (Table 3) embeds every cube; from the eight embeddings a linear
head predicts the permutation (K-way cross-entropy) and another the rotations (16 binary labels).
Only the encoder is exported, in the same weights format as 3DSiam.
"""
import itertools

import torch
import torch.nn.functional as F
from torch import nn

CUBES = 8
ROTATION_DIMS = ((3, 4), (2, 4))  # 180 deg about the vertical axis (flip H, W) and a horizontal one (flip D, W)


def permutation_set(count, generator):
  """`count` permutations of the 8 cubes chosen greedily for maximal minimal Hamming distance."""
  pool = torch.stack([torch.randperm(CUBES, generator=generator) for _ in range(max(1000, 10 * count))])
  chosen = [torch.arange(CUBES)]  # the identity is one class, as in the jigsaw task
  distance = (pool != chosen[0]).sum(1)
  while len(chosen) < count:
    best = int(torch.argmax(distance))
    chosen.append(pool[best])
    distance = torch.minimum(distance, (pool != pool[best]).sum(1))
  return torch.stack(chosen)


def draw_puzzles(batch, n_permutations, generator):
  """Random permutation ids (batch,) and rotation bits (batch, 8, 2) for `batch` boxes."""
  return (torch.randint(0, n_permutations, (batch,), generator=generator),
          torch.rand(batch, CUBES, 2, generator=generator) < 0.5)


def make_puzzle(x, permutations, labels, rotations):
  """x (B, 1, D, H, W), D, H, W even; labels (B,) and rotations (B, 8, 2) from `draw_puzzles`
  -> cubes (B*8, 1, D/2, H/2, W/2), permutation ids (B,), rotation targets (B, 16)."""
  b, _, d, h, w = x.shape
  cubes = [x[:, :, i:i + d // 2, j:j + h // 2, k:k + w // 2]
           for i, j, k in itertools.product((0, d // 2), (0, h // 2), (0, w // 2))]
  cubes = torch.stack(cubes, 1)  # (B, 8, 1, d, h, w)
  cubes = cubes[torch.arange(b)[:, None], permutations[labels]]
  for axis, dims in enumerate(ROTATION_DIMS):
    flip = rotations[:, :, axis].to(x.device)
    cubes = torch.where(flip[:, :, None, None, None, None], cubes.flip([dim + 1 for dim in dims]), cubes)
  return cubes.reshape(b * CUBES, *cubes.shape[2:]), labels.to(x.device), rotations.reshape(b, -1).float().to(x.device)


class RubikNet(nn.Module):
  """Shared encoder over the 8 cubes, then permutation and rotation heads on their concatenation."""

  def __init__(self, encoder, n_permutations):
    super().__init__()
    self.encoder = encoder
    self.permutation_head = nn.Linear(CUBES * encoder.feature_dim, n_permutations)
    self.rotation_head = nn.Linear(CUBES * encoder.feature_dim, CUBES * 2)

  def forward(self, cubes):
    """cubes (B*8, 1, d, h, w) -> permutation logits (B, K), rotation logits (B, 16), cube features (B*8, dim)."""
    features = self.encoder(cubes)
    joined = features.reshape(-1, CUBES * features.shape[1])
    return self.permutation_head(joined), self.rotation_head(joined), features


def rubik_loss(permutation_logits, rotation_logits, permutation_labels, rotation_labels):
  """Cross-entropy on the permutation plus binary cross-entropy on the 16 rotation bits."""
  return (F.cross_entropy(permutation_logits, permutation_labels)
          + F.binary_cross_entropy_with_logits(rotation_logits, rotation_labels))
