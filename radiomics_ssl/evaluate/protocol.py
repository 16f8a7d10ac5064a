"""The paper's evaluation protocol (Section 3, "Evaluation protocol, classifier and metrics").

A linear SVM on standardised features, stratified five-fold cross-validation repeated over
seeds, and C chosen on "20% of training data" inside each fold, so scaling and C never see the
test fold. An optional label fraction keeps only that share of each training fold's labels
(Table 2's "50% labels" columns). An optional in-fold reduction (`Protocol.ssl_components`) replaces
the ssl block by its leading principal components, fitted on the training rows only, like the scaling.
"""
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from radiomics_ssl.config import Protocol  # noqa: F401  (the protocol's settings live with every other default)


def make_classifier(c, class_weight=None, reduce=None):
  """Median imputation (pyradiomics can emit NaN), standardisation, linear SVM: fitted as one unit.

  `reduce` = (first ssl column, K) from `reduction`: the ssl block (that column to the last) is
  imputed, standardised and replaced by its first K principal components, whitened to unit variance;
  the columns before it are imputed and standardised as usual. PCA is part of the unit, so it only
  sees the rows the unit is fitted on."""
  svm = LinearSVC(C=c, class_weight=class_weight, max_iter=20000)
  if reduce is None:
    return make_pipeline(*_standardised(), svm)
  first_ssl, components = reduce
  ssl = ("ssl", make_pipeline(*_standardised(), PCA(components, whiten=True, svd_solver="full")), slice(first_ssl, None))
  classical = ("classical", make_pipeline(*_standardised()), slice(0, first_ssl))
  return make_pipeline(ColumnTransformer([classical, ssl] if first_ssl else [ssl]), svm)


def _standardised():
  return SimpleImputer(strategy="median"), StandardScaler()


def reduction(protocol, first_ssl):
  """-> (first ssl column, K) when `protocol` reduces the ssl block and the matrix has one (its ssl
  block begins at `first_ssl`, None without), else None."""
  return None if protocol.ssl_components is None or first_ssl is None else (first_ssl, protocol.ssl_components)


def choose_c(x, y, protocol, seed, groups=None, reduce=None):
  """Best C by balanced accuracy on an inner stratified 20% split of the training fold (whole groups
  on either side when `groups` is given)."""
  if groups is None:
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=protocol.inner_fraction, random_state=seed)
  else:
    splitter = StratifiedGroupKFold(n_splits=round(1 / protocol.inner_fraction), shuffle=True, random_state=seed)
  inner_train, inner_val = next(splitter.split(x, y, groups))
  scores = []
  for c in protocol.c_grid:
    model = make_classifier(c, protocol.class_weight, reduce).fit(x[inner_train], y[inner_train])
    scores.append(balanced_accuracy_score(y[inner_val], model.predict(x[inner_val])))
  return protocol.c_grid[int(np.argmax(scores))]  # ties -> the smaller C


def label_subset(train, y, fraction, seed):
  """A stratified `fraction` of the training fold's indices."""
  if fraction >= 1:
    return train
  keep, _ = train_test_split(train, train_size=fraction, stratify=y[train], random_state=seed)
  return np.sort(keep)


def splits(y, protocol, groups=None):
  """The repeated stratified folds every row of a table shares -> (repeat, fold, train, test, fold
  seed), with each training fold already reduced to the protocol's label fraction. With `groups`
  (e.g. the patient of each ROI), no group is on both sides of a split."""
  y = np.asarray(y)
  for repeat in range(protocol.repeats):
    seed = protocol.seed + repeat
    folds = (StratifiedKFold if groups is None else StratifiedGroupKFold)(
      n_splits=protocol.n_splits, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(folds.split(np.zeros(len(y)), y, groups)):
      fold_seed = seed * 100 + fold
      yield repeat, fold, label_subset(train, y, protocol.label_fraction, fold_seed), test, fold_seed


def fold_records(repeat, fold, test, y, predicted, scores, classes, n_train, c=None):
  """Out-of-fold prediction records of one fold, the format `metrics` reads."""
  return [{"repeat": repeat, "fold": fold, "index": int(index), "y_true": y[index], "y_pred": predicted[row],
           "score": scores[row], "C": c, "classes": classes, "n_train": n_train} for row, index in enumerate(test)]


def cross_validate(x, y, protocol=Protocol(), groups=None, first_ssl=None):
  """-> list of per-sample out-of-fold predictions: dicts of repeat, fold, index, y_true, y_pred, score, C.

  `first_ssl`: where x's ssl block begins (it runs to the last column), for `protocol.ssl_components`;
  None when x has no ssl block, which is then never reduced."""
  x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
  groups = None if groups is None else np.asarray(groups)
  reduce = reduction(protocol, first_ssl)
  if reduce and x.shape[1] - first_ssl < protocol.ssl_components:
    raise ValueError(f"ssl_components={protocol.ssl_components} is more than the {x.shape[1] - first_ssl} ssl columns")
  records = []
  for repeat, fold, train, test, fold_seed in splits(y, protocol, groups):
    c = choose_c(x[train], y[train], protocol, fold_seed, None if groups is None else groups[train], reduce)
    model = make_classifier(c, protocol.class_weight, reduce).fit(x[train], y[train])
    scores = model.decision_function(x[test]).tolist()
    records += fold_records(repeat, fold, test, y, model.predict(x[test]), scores, model.classes_.tolist(),
                            len(train), c)
  return records


def metrics(records, positive=1):
  """Per-repeat metrics on all test samples of that repeat, then mean and sd over repeats.

  Binary: sensitivity (recall of `positive`), specificity, AUC, balanced accuracy. AUC is the
  mean over the repeat's folds: SVM scores of different folds' models are not on one scale, so
  pooling them would understate it.
  Multi-class: overall accuracy and minor-class accuracy (recall of the rarest class).
  """
  labels = sorted({r["y_true"] for r in records})
  if len(labels) == 2 and positive not in labels:
    raise ValueError(f"positive class {positive!r} is not one of the labels {labels}")
  per_repeat = {}
  for repeat in sorted({r["repeat"] for r in records}):
    rows = [r for r in records if r["repeat"] == repeat]
    truth = np.array([r["y_true"] for r in rows])
    predicted = np.array([r["y_pred"] for r in rows])
    if len(labels) == 2:
      negative = [label for label in labels if label != positive][0]
      values = {
        "sensitivity": np.mean(predicted[truth == positive] == positive),
        "specificity": np.mean(predicted[truth == negative] == negative),
        "auc": _mean_fold_auc(rows, positive),
        "balanced_accuracy": balanced_accuracy_score(truth, predicted),
      }
    else:
      counts = {label: np.sum(truth == label) for label in labels}
      minor = min(labels, key=lambda label: (counts[label], str(label)))
      values = {"accuracy": np.mean(predicted == truth), "minor_class_accuracy": np.mean(predicted[truth == minor] == minor),
                "balanced_accuracy": balanced_accuracy_score(truth, predicted)}
    for name, value in values.items():
      per_repeat.setdefault(name, []).append(float(value))
  return {name: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for name, v in per_repeat.items()}


def positive_score(record, positive):
  """A binary SVM's decision value, oriented so that larger means `positive` (it favours classes_[1])."""
  return record["score"] if record["classes"][1] == positive else -record["score"]


def _mean_fold_auc(rows, positive):
  aucs = []
  for fold in sorted({r["fold"] for r in rows}):
    in_fold = [r for r in rows if r["fold"] == fold]
    truth = [r["y_true"] == positive for r in in_fold]
    if 0 < sum(truth) < len(truth):
      aucs.append(roc_auc_score(truth, [positive_score(r, positive) for r in in_fold]))
  return np.mean(aucs)
