"""Table 2's "Supervised Learning" row: the same encoder (Table 3) plus a linear layer, trained
from scratch with class-weighted cross-entropy inside each CV fold on that fold's training labels
only, and scored on the held-out fold. The folds and label subsets are those of the SVM protocol
(`protocol.cross_validate`), so the rows of a table compare like with like.
"""
import numpy as np
import torch
from torch import nn

from radiomics_ssl.config import SupervisedConfig
from radiomics_ssl.evaluate.protocol import fold_records, splits
from radiomics_ssl.model import Encoder3d
from radiomics_ssl.train import augment


class Classifier(nn.Module):

  def __init__(self, n_classes):
    super().__init__()
    self.encoder = Encoder3d()
    self.head = nn.Linear(self.encoder.feature_dim, n_classes)

  def forward(self, x):
    return self.head(self.encoder(x))


def class_weights(y, n_classes):
  """n / (k * count_c): the 'balanced' weighting of scikit-learn."""
  counts = np.bincount(y, minlength=n_classes).astype(np.float64)
  return torch.tensor(len(y) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)


def train_fold(boxes, y, n_classes, config, seed):
  """Train a fresh Classifier on boxes (n, D, H, W) with integer labels y; returns it in eval mode."""
  torch.manual_seed(seed)
  generator = torch.Generator().manual_seed(seed)
  model = Classifier(n_classes)
  optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
  loss_function = nn.CrossEntropyLoss(weight=class_weights(y, n_classes))
  x_all, y_all = torch.from_numpy(boxes)[:, None], torch.from_numpy(y)
  model.train()
  for _ in range(config.epochs):
    order = torch.randperm(len(y), generator=generator)
    for start in range(0, len(order) - 1, config.batch_size):  # a last batch of one would break BatchNorm
      batch = order[start:start + config.batch_size]
      if len(batch) < 2:
        continue
      x = augment.apply(x_all[batch], augment.sample_params(len(batch), config.augment, generator))
      loss = loss_function(model(x), y_all[batch])
      optimizer.zero_grad(set_to_none=True)
      loss.backward()
      optimizer.step()
  return model.eval()


def cross_validate_supervised(boxes, y, protocol, config=SupervisedConfig(), progress=None):
  """-> out-of-fold records in the format of `protocol.cross_validate` (scores are logits), on the
  folds and label subsets of `protocol.splits`."""
  boxes, y = np.ascontiguousarray(boxes, dtype=np.float32), np.asarray(y)
  classes = sorted(set(y.tolist()))
  codes = np.array([classes.index(v) for v in y])
  folds = list(splits(y, protocol))
  records = []
  for repeat, fold, train, test, fold_seed in (progress(folds, desc="supervised folds") if progress else folds):
    model = train_fold(boxes[train], codes[train], len(classes), config, fold_seed)
    with torch.inference_mode():
      logits = model(torch.from_numpy(boxes[test])[:, None]).double().numpy()
    predicted = [classes[int(np.argmax(row))] for row in logits]
    scores = (logits[:, 1] - logits[:, 0]).tolist() if len(classes) == 2 else logits.tolist()
    records += fold_records(repeat, fold, test, y, predicted, scores, classes, len(train))
  return records
