"""pykwalify extension functions for the extended parameter schema.

pykwalify loads one extension file by path, so this file re-exports pyradiomics' own checks
and adds the ssl ones. Errors follow pyradiomics' style: raise with the value and the rule.
"""
from radiomics.schemas.schemaFuncs import *  # noqa: F401,F403  pyradiomics' checks, unchanged


def checkSslWeights(value, rule_obj, path):
  """The file must exist, pass its sha256 and be an ssl encoder (256 features)."""
  from radiomics_ssl.extract.featureclass import FEATURE_DIM
  from radiomics_ssl.weights import WeightsError, load

  if not isinstance(value, str):
    raise TypeError('sslWeights not expected type (str)')
  loaded = load(value)  # raises naming the file and the problem (verified once per file version)
  if loaded.metadata.get("feature_dim") != FEATURE_DIM:
    raise WeightsError(f"{loaded.path}: feature_dim {loaded.metadata.get('feature_dim')}; the ssl class emits {FEATURE_DIM}")
  return True
