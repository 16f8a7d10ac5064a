"""PNG plots of a training run: loss and the collapse indicators."""
import math

import numpy as np


def plot_curves(history, path, feature_dim=256, window=10):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  if not history:
    return
  panels = [("loss", "3DSiam loss (Eq. 2)"), ("collapse_std", "collapse indicator: std of L2-normalised output")]
  if any(r.get("bank_rank") is not None for r in history):
    panels.append(("bank_rank", "effective rank of all cases' features (bank)"))
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
  for ax, (key, title) in zip(axes, panels):
    kept = [r for r in history if r.get(key) is not None]
    iterations, values = np.array([r["iteration"] for r in kept]), np.array([r[key] for r in kept])
    ax.plot(iterations, values, alpha=0.35, label="per iteration")
    if len(values) >= window:
      smooth = np.convolve(values, np.ones(window) / window, mode="valid")
      ax.plot(iterations[window - 1:], smooth, label=f"mean of {window}")
    ax.set_xlabel("iteration")
    ax.set_title(title, fontsize=10)
  axes[1].axhline(1 / math.sqrt(feature_dim), color="k", ls="--", lw=1, label="1/sqrt(d)")
  axes[1].axhline(0, color="r", ls=":", lw=1, label="collapsed")
  for ax in axes:
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
