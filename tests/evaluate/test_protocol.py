import csv

import numpy as np
import pytest

from helpers import run
from radiomics_ssl.evaluate import protocol as protocol_module
from radiomics_ssl.evaluate.protocol import Protocol, cross_validate, metrics


def dataset(n=60, signal=2.0, features=20, minority=0.3, seed=0):
  rng = np.random.default_rng(seed)
  y = (np.arange(n) < int(n * minority)).astype(int)
  x = rng.normal(size=(n, features))
  x[:, 0] += signal * y
  return x, y


def test_a_separable_signal_is_found():
  x, y = dataset(signal=4.0)
  result = metrics(cross_validate(x, y, Protocol(repeats=3)))
  assert result["auc"][0] > 0.9 and result["balanced_accuracy"][0] > 0.8
  assert set(result) == {"sensitivity", "specificity", "auc", "balanced_accuracy"}


def test_auc_is_oriented_towards_the_positive_class():
  x, y = dataset(signal=4.0)
  records = cross_validate(x, y, Protocol(repeats=2))
  as_one, as_zero = metrics(records, positive=1), metrics(records, positive=0)
  assert as_one["auc"][0] == pytest.approx(as_zero["auc"][0]) and as_zero["auc"][0] > 0.9
  assert as_one["sensitivity"] == as_zero["specificity"]
  with pytest.raises(ValueError, match="positive class 2 is not one of the labels"):
    metrics(records, positive=2)


def test_pure_noise_gives_chance_auc():
  x, y = dataset(signal=0.0, seed=1)
  auc, sd = metrics(cross_validate(x, y, Protocol(repeats=10)))["auc"]
  assert 0.35 < auc < 0.65 and sd > 0


def test_every_fold_is_stratified():
  x, y = dataset(n=48, minority=0.25)
  records = cross_validate(x, y, Protocol(repeats=2))
  for repeat in range(2):
    for fold in range(5):
      test = [r["y_true"] for r in records if r["repeat"] == repeat and r["fold"] == fold]
      assert abs(sum(test) - len(test) * 0.25) <= 1
    indices = sorted(r["index"] for r in records if r["repeat"] == repeat)
    assert indices == list(range(48))  # each sample is tested once per repeat


@pytest.mark.parametrize("ssl_components", [None, 4])
def test_scaling_and_c_only_ever_see_training_rows(monkeypatch, ssl_components):
  """Imputation, scaling, the in-fold PCA of the ssl block (columns 6 on) and C only see training rows."""
  x, y = dataset(n=40)
  x = np.column_stack([np.arange(40.0), x])  # column 0 identifies each row
  fitted = []
  real = protocol_module.make_classifier

  def spying(c, class_weight=None, reduce=None):
    assert reduce == (None if ssl_components is None else (6, ssl_components))
    model = real(c, class_weight, reduce)
    original_fit = model.fit

    def fit(features, labels):
      fitted.append(set(features[:, 0].astype(int).tolist()))
      return original_fit(features, labels)

    model.fit = fit
    return model

  monkeypatch.setattr(protocol_module, "make_classifier", spying)
  settings = Protocol(repeats=1, ssl_components=ssl_components)
  records = cross_validate(x, y, settings, first_ssl=6)
  per_fold = len(settings.c_grid) + 1
  assert len(fitted) == 5 * per_fold
  for fold in range(5):
    test = {r["index"] for r in records if r["fold"] == fold}
    for rows in fitted[fold * per_fold:(fold + 1) * per_fold]:
      assert not rows & test
    *inner, final = fitted[fold * per_fold:(fold + 1) * per_fold]
    assert all(rows < final and len(rows) == len(final) - int(np.ceil(0.2 * len(final))) for rows in inner)


def test_the_ssl_reduction_keeps_the_classical_columns_and_k_whitened_components():
  rng = np.random.default_rng(0)
  y = (np.arange(120) % 3 == 0).astype(int)
  latent = rng.normal(size=(120, 3))
  latent[:, 0] += 3 * y  # the label lives in the ssl block's leading directions...
  ssl = latent @ rng.normal(size=(3, 64)) * 5 + rng.normal(size=(120, 64))  # ...spread over 64 correlated columns
  x = np.column_stack([rng.normal(size=(120, 5)), ssl])  # 5 classical noise columns first
  model = protocol_module.make_classifier(1.0, reduce=(5, 3)).fit(x, y)
  seen = model[:-1].transform(x)
  assert model[-1].coef_.shape == (1, 8) and seen.shape == (120, 8)
  np.testing.assert_allclose(seen[:, :5].std(axis=0), 1, rtol=1e-6)  # classical: standardised, unchanged otherwise
  np.testing.assert_allclose(seen[:, 5:].std(axis=0, ddof=1), 1, rtol=1e-6)  # the components: whitened
  reduced = metrics(cross_validate(x, y, Protocol(repeats=2, ssl_components=3), first_ssl=5))["auc"][0]
  assert reduced > 0.8
  assert metrics(cross_validate(x[:, :5], y, Protocol(repeats=2, ssl_components=3)))["auc"][0] < 0.7  # no ssl: none
  with pytest.raises(ValueError, match="ssl_components=65 is more than the 64 ssl columns"):
    cross_validate(x, y, Protocol(repeats=1, ssl_components=65), first_ssl=5)
  with pytest.raises(ValueError, match="ssl_components"):
    Protocol(ssl_components=0)


def test_label_fraction_uses_the_stated_share():
  x, y = dataset(n=60)
  full = cross_validate(x, y, Protocol(repeats=1))
  half = cross_validate(x, y, Protocol(repeats=1, label_fraction=0.5))
  assert {r["n_train"] for r in full} == {48}
  assert {r["n_train"] for r in half} == {24}
  with pytest.raises(ValueError, match="label_fraction"):
    Protocol(label_fraction=0)


def test_multiclass_reports_overall_and_minor_class_accuracy():
  rng = np.random.default_rng(0)
  y = np.repeat([0, 1, 2], [30, 20, 10])
  x = rng.normal(size=(60, 6))
  x[np.arange(60), y] += 4
  result = metrics(cross_validate(x, y, Protocol(repeats=2)))
  assert set(result) == {"accuracy", "minor_class_accuracy", "balanced_accuracy"}
  assert result["accuracy"][0] > 0.8 and result["minor_class_accuracy"][0] > 0.5


def write_features(path, ids, trad, ssl):
  columns = ["ID", "diagnostics_Versions_PyRadiomics"] + [f"original_firstorder_F{i}" for i in range(trad.shape[1])] \
    + [f"original_ssl_{i}" for i in range(ssl.shape[1])]
  with open(path, "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(columns)
    for case, t, s in zip(ids, trad, ssl):
      writer.writerow([case, "v3.0.1"] + t.tolist() + s.tolist())


def test_cli_writes_tables_plots_and_predictions(tmp_path):
  rng = np.random.default_rng(0)
  ids = [f"P{i:02d}" for i in range(40)]
  y = (np.arange(40) % 3 == 0).astype(int)
  trad = rng.normal(size=(40, 5)) + y[:, None]
  write_features(tmp_path / "a.csv", ids, trad, rng.normal(size=(40, 8)) + 2 * y[:, None])
  write_features(tmp_path / "b.csv", ids, trad, rng.normal(size=(40, 8)))
  with open(tmp_path / "labels.csv", "w") as stream:
    stream.write("pid,grade_high\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, y)) + "P99,\n")
  out = tmp_path / "eval"
  result = run("radiomics-ssl-evaluate", tmp_path / "a.csv", tmp_path / "b.csv", "--labels", tmp_path / "labels.csv",
               "--label-column", "grade_high", "--id-column", "ID", "--names", "good,noise", "--out", out,
               "--repeats", "3")
  assert result.returncode == 2 and "labels.csv: id column 'ID' not found" in result.stderr  # labels use 'pid'
  assert "give --label-id-column (e.g. --label-id-column pid)" in result.stderr
  (tmp_path / "labels.csv").write_text((tmp_path / "labels.csv").read_text().replace("pid,", "ID,"))
  result = run("radiomics-ssl-evaluate", tmp_path / "a.csv", tmp_path / "b.csv", "--labels", tmp_path / "labels.csv",
               "--label-column", "grade_high", "--id-column", "ID", "--names", "good,noise", "--out", out,
               "--repeats", "3")
  assert result.returncode == 0, result.stderr
  assert "1 case(s) of " in result.stderr and "without a grade_high label (empty or N/A) left out: P99" in result.stderr
  for name in ("results.md", "results.csv", "predictions.csv", "roc.png", "ssl_correlation.png"):
    assert (out / name).stat().st_size > 100
  assert f"Written to {out}: results.md, results.csv, predictions.csv, roc.png, ssl_correlation.png" in result.stdout
  rows = {r["feature_set"]: r for r in csv.DictReader(open(out / "results.csv"))}
  assert set(rows) == {"trad", "ssl [good]", "trad+ssl [good]", "ssl [noise]", "trad+ssl [noise]"}
  assert float(rows["ssl [good]"]["auc_mean"]) > float(rows["ssl [noise]"]["auc_mean"]) + 0.2
  assert rows["trad+ssl [good]"]["n_features"] == "13"
  reduced = tmp_path / "reduced"
  result = run("radiomics-ssl-evaluate", tmp_path / "a.csv", "--labels", tmp_path / "labels.csv", "--label-column",
               "grade_high", "--id-column", "ID", "--names", "good", "--out", reduced, "--repeats", "3",
               "--ssl-components", "2")
  assert result.returncode == 0, result.stderr
  assert "ssl block reduced in each training fold to 2 principal components" in result.stdout
  rows = {r["feature_set"]: r for r in csv.DictReader(open(reduced / "results.csv"))}
  assert (rows["trad"]["n_features"], rows["ssl [good]"]["n_features"], rows["trad+ssl [good]"]["n_features"]) \
    == ("5", "2", "7")
  assert float(rows["ssl [good]"]["auc_mean"]) > 0.8  # the signal is in every ssl column, so in the first component
  result = run("radiomics-ssl-evaluate", tmp_path / "a.csv", "--labels", tmp_path / "labels.csv", "--label-column",
               "grade_high", "--id-column", "ID", "--out", reduced, "--repeats", "1", "--ssl-components", "9")
  assert result.returncode == 2 and "ssl_components=9 is more than the 8 ssl columns" in result.stderr


def test_cli_evaluates_the_cases_with_features_and_labels_and_reports_the_rest(tmp_path):
  """A labels CSV with more patients, N/A labels, a failed extraction and unlabelled feature rows:
  the cases with both are evaluated, and each side's left-out cases are named."""
  rng = np.random.default_rng(0)
  ids = [f"P{i:02d}" for i in range(40)]
  y = (np.arange(40) % 3 == 0).astype(int)
  write_features(tmp_path / "a.csv", ids + ["X1"], rng.normal(size=(41, 3)), rng.normal(size=(41, 4)))
  text = (tmp_path / "a.csv").read_text().splitlines()
  text[5] = "P04,v3.0.1" + "," * 7  # P04's extraction failed: an empty row
  (tmp_path / "a.csv").write_text("\n".join(text) + "\n")
  labels = "".join(f"{i},{'High' if v else 'Low'}\n" for i, v in zip(ids, y)) + "P90,High\nP91,Low\nP92,N/A\nP93,NA\n"
  (tmp_path / "labels.csv").write_text("ID,grade\n" + labels)
  out = tmp_path / "eval"
  args = ["radiomics-ssl-evaluate", tmp_path / "a.csv", "--labels", tmp_path / "labels.csv", "--label-column", "grade",
          "--id-column", "ID", "--repeats", "2", "--out", out]
  result = run(*args, "--positive", "1")
  assert result.returncode == 2 and "--positive '1' is not one of the grade labels ['High', 'Low']" in result.stderr
  result = run(*args, "--positive", "High")
  assert result.returncode == 0, result.stderr
  assert "2 case(s) of " in result.stderr and "without a grade label (empty or N/A) left out: P92, P93" in result.stderr
  assert "3 labelled case(s) without feature values in every features CSV (absent or failed) left out: P04, P90, P91" \
    in result.stderr
  assert "1 case(s) of the features CSVs without a grade label left out: X1" in result.stderr
  assert "grade: 39 cases {'High': 14, 'Low': 25}" in result.stdout
  predicted = {row["id"] for row in csv.DictReader(open(out / "predictions.csv"))}
  assert predicted == set(ids) - {"P04"}


def test_feature_diversity_separates_collapsed_from_healthy_features():
  from radiomics_ssl.diversity import feature_diversity

  rng = np.random.default_rng(0)
  assert feature_diversity(np.ones((50, 256))) == (0.0, 1.0)
  share, rank = feature_diversity(rng.normal(size=(107, 256)))
  assert share == 1.0 and rank > 50
  low_rank = rng.normal(size=(107, 3)) @ rng.normal(size=(3, 256))
  assert feature_diversity(low_rank)[1] < 3.5


def test_supervised_baseline_learns_a_visible_signal_on_the_svm_folds():
  from radiomics_ssl.evaluate.protocol import Protocol, cross_validate, metrics
  from radiomics_ssl.config import SupervisedConfig
  from radiomics_ssl.evaluate.supervised import cross_validate_supervised

  rng = np.random.default_rng(0)
  y = np.array(["1"] * 10 + ["0"] * 20)
  boxes = rng.uniform(0, 60, (30, 16, 16, 16)).astype(np.float32)
  boxes[y == "1", 4:12, 4:12, 4:12] += 150  # a bright core only in the positive class
  protocol = Protocol(repeats=1, label_fraction=0.5)
  records = cross_validate_supervised(boxes, y, protocol, SupervisedConfig(epochs=6))
  assert metrics(records, positive="1")["auc"][0] > 0.8
  svm = cross_validate(boxes.reshape(30, -1)[:, :64], y, protocol)
  assert [(r["fold"], r["index"]) for r in records] == [(r["fold"], r["index"]) for r in svm]  # the same test folds
  assert {r["n_train"] for r in records} == {r["n_train"] for r in svm} == {12}  # half of each 24-case training fold
