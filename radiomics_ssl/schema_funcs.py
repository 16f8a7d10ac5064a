"""pykwalify extension functions for the extended parameter schema.

pykwalify loads one extension file by path, so this file re-exports pyradiomics' own checks
and adds the ssl ones. Errors follow pyradiomics' style: raise with the value and the rule.
"""
from radiomics.schemas.schemaFuncs import *  # noqa: F401,F403  pyradiomics' checks, unchanged


def checkSslWeights(value, rule_obj, path):
  from radiomics_ssl.weights import resolve

  if not isinstance(value, str):
    raise TypeError('sslWeights not expected type (str)')
  resolve(value)  # raises naming the value and the shipped names
  return True
