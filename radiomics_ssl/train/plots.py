"""PNG plots of a training run: loss, learning rate and the collapse indicators."""
import math

import numpy as np


def plot_curves(history, path, feature_dim=256, rank_reference=None, rank_floor=None, window=10):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  if not history:
    return
  panels = [("loss", "training loss"), ("collapse_std", "std of L2-normalised output"),
            ("rank", "effective rank of the features (RankMe)"), ("lr", "learning rate")]
  panels = [(key, title) for key, title in panels if any(r.get(key) is not None for r in history)]
  fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6))
  for ax, (key, title) in zip(np.atleast_1d(axes), panels):
    kept = [r for r in history if r.get(key) is not None]
    iterations, values = np.array([r["iteration"] for r in kept]), np.array([r[key] for r in kept])
    ax.plot(iterations, values, marker="o" if key == "rank" else None, ms=3, alpha=1 if key in ("rank", "lr") else 0.35,
            label="measured" if key == "rank" else "per iteration")
    if key in ("loss", "collapse_std") and len(values) >= window:
      smooth = np.convolve(values, np.ones(window) / window, mode="valid")
      ax.plot(iterations[window - 1:], smooth, label=f"mean of {window}")
    if key == "collapse_std":
      ax.axhline(1 / math.sqrt(feature_dim), color="k", ls="--", lw=1, label="1/sqrt(d)")
      ax.axhline(0, color="r", ls=":", lw=1, label="collapsed")
    if key == "rank" and rank_reference:
      ax.axhline(rank_reference, color="k", ls="--", lw=1, label="untrained encoder")
      if rank_floor:
        ax.axhline(rank_reference * rank_floor, color="r", ls=":", lw=1, label="stop floor")
    ax.set_xlabel("iteration")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
