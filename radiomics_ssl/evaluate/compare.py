"""Feature sets side by side under one protocol: what `radiomics-ssl-evaluate` and the benchmark
studies share (Table 2's rows: trad, ssl and trad+ssl for each encoder)."""
import collections

import numpy as np

from radiomics_ssl.evaluate.protocol import cross_validate, metrics, reduction


def feature_sets(trad, ssl_by_name, sets=("trad", "ssl", "trad+ssl")):
  """-> {set name: (case x feature matrix, first ssl column or None)}: 'trad', 'ssl [name]' and
  'trad+ssl [name]' as asked by `sets`; the ssl block is always last."""
  chosen = collections.OrderedDict()
  if "trad" in sets:
    chosen["trad"] = (trad, None)
  for name, ssl in ssl_by_name.items():
    if "ssl" in sets:
      chosen[f"ssl [{name}]"] = (ssl, 0)
    if "trad+ssl" in sets:
      chosen[f"trad+ssl [{name}]"] = (np.hstack([trad, ssl]), trad.shape[1])
  return chosen


def compare(sets, y, protocol, groups=None, positive="1", progress=None):
  """Cross-validate every feature set of `feature_sets` on the same folds -> ([(set, n_features,
  {metric: (mean, sd)})], {set: out-of-fold records}); n_features counts what the SVM sees."""
  results, records = [], collections.OrderedDict()
  for name, (matrix, first_ssl) in (progress(sets.items(), desc="feature sets") if progress else sets.items()):
    records[name] = cross_validate(matrix, y, protocol, groups, first_ssl)
    reduce = reduction(protocol, first_ssl)
    results.append((name, matrix.shape[1] if reduce is None else sum(reduce), metrics(records[name], positive=positive)))
  return results, records
