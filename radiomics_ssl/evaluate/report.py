"""Tables and plots of an evaluation: markdown/CSV tables, ROC curves, Fig. 2 correlation densities."""
import csv
import os

import numpy as np


def _pyplot():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def write_tables(results, out_dir, title):
  """results: list of (feature set, n_features, {metric: (mean, sd)}). Writes results.md and results.csv."""
  names = sorted({m for _, _, values in results for m in values}, key=_metric_order)
  with open(os.path.join(out_dir, "results.csv"), "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(["feature_set", "n_features"] + [f"{m}_{s}" for m in names for s in ("mean", "sd")])
    for label, count, values in results:
      writer.writerow([label, count] + [f"{values[m][i]:.4f}" if m in values else "" for m in names for i in (0, 1)])
  lines = [f"## {title}", "", "| feature set | features | " + " | ".join(names) + " |",
           "|---|---|" + "---|" * len(names)]
  for label, count, values in results:
    cells = [f"{values[m][0]:.3f} ± {values[m][1]:.3f}" if m in values else "" for m in names]
    lines.append(f"| {label} | {count} | " + " | ".join(cells) + " |")
  text = "\n".join(lines) + "\n"
  with open(os.path.join(out_dir, "results.md"), "w") as stream:
    stream.write(text)
  return text


def _metric_order(name):
  order = ["sensitivity", "specificity", "auc", "balanced_accuracy", "accuracy", "minor_class_accuracy"]
  return order.index(name) if name in order else len(order)


def write_predictions(records_by_set, ids, out_dir):
  with open(os.path.join(out_dir, "predictions.csv"), "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(["feature_set", "repeat", "fold", "id", "y_true", "y_pred", "score", "C", "n_train"])
    for label, records in records_by_set.items():
      for r in records:
        writer.writerow([label, r["repeat"], r["fold"], ids[r["index"]], r["y_true"], r["y_pred"],
                         r["score"], r["C"], r["n_train"]])


def plot_roc(records_by_set, positive, path, title=""):
  """The mean ROC curve per feature set: each test fold's ROC, interpolated onto one grid of
  1 - specificity and averaged over every fold of every repeat. Scores of different folds' SVMs are
  not on one scale, so the curves are averaged rather than the scores pooled; the legend's AUC is
  the table's (mean of per-fold AUCs, then mean and sd over repeats)."""
  from sklearn.metrics import roc_curve

  from radiomics_ssl.evaluate.protocol import metrics, positive_score

  plt = _pyplot()
  grid = np.linspace(0, 1, 101)
  fig, ax = plt.subplots(figsize=(5.5, 5))
  for label, records in records_by_set.items():
    curves = []
    for key in sorted({(r["repeat"], r["fold"]) for r in records}):
      fold = [r for r in records if (r["repeat"], r["fold"]) == key]
      truth = np.array([r["y_true"] == positive for r in fold])
      if 0 < truth.sum() < len(truth):
        fpr, tpr, _ = roc_curve(truth, [positive_score(r, positive) for r in fold])
        curves.append(np.interp(grid, fpr, tpr))
    mean_auc, sd_auc = metrics(records, positive)["auc"]
    curve = np.mean(curves, axis=0)
    curve[0] = 0.0
    ax.plot(grid, curve, label=f"{label} (AUC {mean_auc:.3f} ± {sd_auc:.3f})")
  ax.plot([0, 1], [0, 1], "k:", lw=1)
  ax.set_xlabel("1 - specificity")
  ax.set_ylabel("sensitivity")
  ax.set_title(f"{title}\nmean ROC over test folds" if title else "mean ROC over test folds", fontsize=9)
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def correlation_values(matrix):
  """Pairwise Pearson correlations between feature columns (upper triangle, constant columns dropped)."""
  matrix = matrix[:, np.nanstd(matrix, axis=0) > 0]
  corr = np.corrcoef(matrix, rowvar=False)
  return corr[np.triu_indices_from(corr, k=1)]


def plot_correlation_density(matrices, path):
  """Fig. 2: density of pairwise correlations among ssl features, one curve per weights file."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  bins = np.linspace(-1, 1, 81)
  for label, matrix in matrices.items():
    values = correlation_values(matrix)
    density, edges = np.histogram(values, bins=bins, density=True)
    ax.plot((edges[1:] + edges[:-1]) / 2, density, label=f"{label} (mean |r| {np.mean(np.abs(values)):.2f})")
  ax.set_xlabel("Pearson r between ssl features")
  ax.set_ylabel("density")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
