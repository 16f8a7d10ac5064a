"""The Python API: an existing pyradiomics extractor gains the ssl features with one added line.

  python examples/make_sample.py sample
  python examples/api_extractor.py sample/image.nii.gz sample/mask.nii.gz
"""
import sys

from radiomics import featureextractor

import radiomics_ssl

radiomics_ssl.register()  # the one added line: registers the `ssl` feature class and settings

if __name__ == "__main__":
  image, mask = (sys.argv[1:3] if len(sys.argv) >= 3 else ("sample/image.nii.gz", "sample/mask.nii.gz"))

  # An existing pipeline, unchanged: a stock extractor built from a parameter file ...
  extractor = featureextractor.RadiomicsFeatureExtractor("params/ssl.yaml")
  # ... or enable the class on an extractor configured in code:
  #   extractor.enableFeatureClassByName("ssl"); extractor.settings["sslDevice"] = "cpu"
  result = extractor.execute(image, mask)

  ssl = [result[f"original_ssl_{i}"] for i in range(256)]
  classical = [k for k in result if k.startswith("original_") and "_ssl_" not in k]
  print(f"{len(classical)} classical + {len(ssl)} ssl features; weights {result['diagnostics_ssl_Weights']} "
        f"(sha256 {result['diagnostics_ssl_WeightsSha256'][:12]}...) on {result['diagnostics_ssl_Device']}")
