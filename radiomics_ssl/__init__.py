"""radiomics_ssl: self-supervised 3D deep features (3DSiam with RE/SE) as a pyradiomics feature class.

`import radiomics_ssl` has no side effect. The opt-in is one named step:

    radiomics_ssl.register()   # a stock RadiomicsFeatureExtractor now accepts `ssl`

Importing the extraction wing (`radiomics_ssl.extract`, which the console scripts and their
`spawn` workers do) performs the same step, because that wing is the pyradiomics integration.
Nothing else in the package touches pyradiomics, whatever the import order or install mode.
"""
__version__ = "0.3.0"


def register():
  """Register the ssl feature class and its settings with pyradiomics (idempotent) -> the names it changed."""
  from radiomics_ssl.extract import register as install

  return install()
