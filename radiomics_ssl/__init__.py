"""radiomics_ssl: self-supervised 3D deep features (3DSiam with RE/SE) as a pyradiomics feature class.

`import radiomics_ssl` registers the `ssl` feature class and its settings with pyradiomics.
"""
__version__ = "0.1.0"

from radiomics_ssl.registration import register  # noqa: E402

register()
