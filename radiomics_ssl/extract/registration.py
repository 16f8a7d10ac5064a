"""Opt-in: after `radiomics_ssl.register()`, a stock RadiomicsFeatureExtractor accepts `ssl`.

`register()` changes exactly what `REGISTERED` lists, once per process, and nothing else:
1. `ssl` joins pyradiomics' feature-class registry (the dict `getFeatureClasses()` returns);
2. the parameter schema gains the ssl settings (`extract/schema.py`), served by
   `radiomics.getParameterValidationFiles` (and the name `featureextractor` imported from it);
3. `RadiomicsFeatureExtractor.execute`: an extractor that enables the ssl class takes the one road
   to a row (extract/row.py); any other extractor runs pyradiomics' own execute, unchanged.
The thin-axis guard of pyradiomics' B-spline resampling is a step of that road, named by the
setting `sslThinAxisGuard` (default on; extract/thin_axes.py): it applies to extractions that run
the ssl class, for the duration of each call, and a user can turn it off.
"""
import functools

from radiomics_ssl.extract import row

REGISTERED = ("radiomics.getFeatureClasses()['ssl']", "radiomics.getParameterValidationFiles",
              "radiomics.featureextractor.getParameterValidationFiles", "RadiomicsFeatureExtractor.execute")
_registered = False


def register():
  """Install the opt-in (idempotent) -> the names it changed (REGISTERED)."""
  global _registered
  if not _registered:
    import radiomics
    from radiomics import featureextractor

    from radiomics_ssl.extract.featureclass import FEATURE_CLASS, RadiomicsSSL
    from radiomics_ssl.extract.schema import extended_schema_files

    radiomics.getFeatureClasses()[FEATURE_CLASS] = RadiomicsSSL
    stock_files = radiomics.getParameterValidationFiles
    extended = functools.lru_cache(maxsize=1)(lambda: extended_schema_files(stock_files()[0]))
    radiomics.getParameterValidationFiles = extended
    featureextractor.getParameterValidationFiles = extended
    featureextractor.RadiomicsFeatureExtractor.execute = execute
    _registered = True
  return REGISTERED


def execute(self, imageFilepath, maskFilepath, label=None, label_channel=None, voxelBased=False):
  """pyradiomics' execute; with the ssl class enabled, the one road to a row (extract/row.py)."""
  if row.FEATURE_CLASS not in self.enabledFeatures:
    return row.STOCK_EXECUTE(self, imageFilepath, maskFilepath, label, label_channel, voxelBased)
  if voxelBased:
    raise ValueError("ssl features are per ROI; voxel-based extraction is not supported for the ssl class")
  return row.extract_row(self, imageFilepath, maskFilepath, label, label_channel)
