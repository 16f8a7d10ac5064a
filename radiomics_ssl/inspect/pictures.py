"""The QA report's pictures: what the encoder received per case, a contact sheet, the cohort's maps.

Every picture of a box shows the array the encoder received (a `preprocess.PreparedRoi` from the
extraction's own per-case step), on the encoder's own [0, 255] scale: no re-implementation.
"""
import numpy as np

UNITS = {"CT": "HU", "PET": "SUV", "MR": "image units", "any": "image units"}


def pyplot():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def shown_tile(prepared):
  """The box the pictures show: the only one, or the tile holding most of the ROI."""
  return int(np.argmax(prepared.weights))


def mid_slices(array):
  """Axial, coronal and sagittal planes through the centre of a (z, y, x) box."""
  z, y, x = (size // 2 for size in array.shape)
  return array[z], array[:, y, :], array[:, :, x]


def describe(prepared, contract):
  """One line: window in physical units, field of view, spacing, and how the ROI fits the box."""
  unit = "percentile-mapped " + UNITS[contract.modality] if contract.intensity == "percentile" else UNITS[contract.modality]
  low, high = prepared.window
  tiles = f", {len(prepared.boxes)} tiles" if prepared.fit == "tiled" else ""
  return (f"window [{low:.4g}, {high:.4g}] {unit} -> [0, 255]; field of view {prepared.field_of_view_mm:.0f} mm at "
          f"{prepared.spacing_mm:.3g} mm; ROI {prepared.roi_extent_mm:.0f} mm, {prepared.fit}{tiles}")


def case_figure(prepared, contract, title, warnings=()):
  """Three orthogonal mid-slices of the encoder's input box with the ROI outline."""
  plt = pyplot()
  tile = shown_tile(prepared)
  box, roi = prepared.boxes[tile], prepared.rois[tile]
  fig, axes = plt.subplots(1, 3, figsize=(10.5, 4.1))
  for ax, plane, outline, name in zip(axes, mid_slices(box), mid_slices(roi), ("axial", "coronal", "sagittal")):
    ax.imshow(plane, cmap="gray", vmin=0, vmax=255, origin="lower" if name != "axial" else "upper",
              interpolation="nearest")
    if outline.any():
      ax.contour(outline, levels=[0.5], colors="red", linewidths=1.0, origin="lower" if name != "axial" else "upper")
    ax.set_title(name, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
  fig.suptitle(title, fontsize=11)
  fig.text(0.5, 0.04, describe(prepared, contract), ha="center", fontsize=8)
  if warnings:
    fig.text(0.5, 0.005, "WARNING: " + "; ".join(warnings), ha="center", fontsize=7, color="darkred", wrap=True)
  fig.tight_layout(rect=(0, 0.08, 1, 0.95))
  return fig


def save(fig, path):
  plt = pyplot()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def contact_sheet(entries, path, columns=8):
  """All cases' axial mid-slices on one page; entries: (case id, PreparedRoi or None, warned)."""
  plt = pyplot()
  rows = max(1, int(np.ceil(len(entries) / columns)))
  fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.75 * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  for ax, (case_id, prepared, warned) in zip(axes.flat, entries):
    if prepared is None:
      ax.text(0.5, 0.5, "failed", ha="center", va="center", color="darkred", transform=ax.transAxes)
    else:
      tile = shown_tile(prepared)
      box, roi = mid_slices(prepared.boxes[tile])[0], mid_slices(prepared.rois[tile])[0]
      ax.imshow(box, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
      if roi.any():
        ax.contour(roi, levels=[0.5], colors="red", linewidths=0.6)
    ax.set_title(case_id + (" (!)" if warned else ""), fontsize=6, color="darkred" if warned or prepared is None else "k")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def embed(matrix, method="pca"):
  """2D coordinates of standardised rows: PCA, or UMAP when asked and installed (umap-learn)."""
  from sklearn.preprocessing import StandardScaler

  x = StandardScaler().fit_transform(np.nan_to_num(np.asarray(matrix, dtype=np.float64)))
  if method == "umap":
    import umap

    return umap.UMAP(n_components=2, random_state=0, n_neighbors=min(15, len(x) - 1)).fit_transform(x)
  from sklearn.decomposition import PCA

  return PCA(n_components=2, random_state=0).fit_transform(x)


def outliers(points, names, threshold=3.5):
  """Names of the points far from the rest: robust z-score of the distance to the median point."""
  distance = np.linalg.norm(points - np.median(points, axis=0), axis=1)
  spread = np.median(np.abs(distance - np.median(distance))) * 1.4826 or 1.0
  return [name for name, d in zip(names, distance) if (d - np.median(distance)) / spread > threshold]


def feature_map(matrix, names, labels, path, title, method="pca", label_name="label"):
  """One point per case, coloured by label, outliers named; returns the outliers' names."""
  plt = pyplot()
  points = embed(matrix, method)
  fig, ax = plt.subplots(figsize=(6.2, 5.2))
  if labels is None:
    ax.scatter(points[:, 0], points[:, 1], s=18, color="tab:blue")
  else:
    for value in sorted(set(labels), key=str):
      chosen = np.array([label == value for label in labels])
      ax.scatter(points[chosen, 0], points[chosen, 1], s=18, label=f"{value or 'no label'} ({chosen.sum()})")
    ax.legend(fontsize=8, title=label_name)
  named = outliers(points, names)
  for name, point in zip(names, points):
    if name in named:
      ax.annotate(name, point, fontsize=7, color="darkred", xytext=(3, 3), textcoords="offset points")
  ax.set_title(f"{title}: {method.upper()} of {matrix.shape[1]} features, {len(names)} cases", fontsize=10)
  ax.set_xlabel(f"{method.upper()} 1")
  ax.set_ylabel(f"{method.upper()} 2")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return named


def cross_correlation_density(ssl, trad, path):
  """Fig. 2-style density of Pearson r between every ssl feature and every classical feature."""
  plt = pyplot()

  def standardised(matrix):
    matrix = np.asarray(matrix, dtype=np.float64)
    matrix = matrix[:, np.nanstd(matrix, axis=0) > 0]
    return (matrix - matrix.mean(axis=0)) / matrix.std(axis=0)

  a, b = standardised(ssl), standardised(np.nan_to_num(trad))
  r = (a.T @ b / len(a)).ravel()
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.hist(r, bins=np.linspace(-1, 1, 81), density=True, color="tab:purple", alpha=0.8)
  ax.set_xlabel("Pearson r, ssl feature x classical feature")
  ax.set_ylabel("density")
  ax.set_title(f"{a.shape[1]} ssl x {b.shape[1]} classical features: mean |r| {np.mean(np.abs(r)):.2f}, "
               f"{100 * np.mean(np.abs(r) > 0.7):.1f}% above 0.7", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
