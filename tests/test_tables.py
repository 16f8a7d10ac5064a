"""The one naming rule for feature columns (radiomics_ssl/tables.py), on pyradiomics' own names."""
import radiomics

from radiomics_ssl.tables import CLASSICAL_CLASSES, SSL_CLASS, feature_class, is_classical, is_ssl, ssl_column


def test_the_classical_classes_are_pyradiomics_own():
  assert set(CLASSICAL_CLASSES) == set(radiomics.getFeatureClasses()) - {SSL_CLASS}


def test_columns_of_every_image_type_are_named_by_their_class():
  assert ssl_column("wavelet-LLH", 12) == "wavelet-LLH_ssl_12" and is_ssl("wavelet-LLH_ssl_12")
  for column, cls in [("original_glcm_Contrast", "glcm"), ("log-sigma-1-0-mm-3D_firstorder_Mean", "firstorder"),
                      ("lbp-3D-m1_gldm_DependenceEntropy", "gldm"), ("squareroot_ngtdm_Busyness", "ngtdm"),
                      ("original_shape_Sphericity", "shape")]:
    assert feature_class(column) == cls and is_classical(column) and not is_ssl(column)
  for other in ("diagnostics_ssl_Weights", "diagnostics_Image-original_Mean", "ID", "Image", "Patient_ID_2",
                "my_custom_column"):
    assert feature_class(other) is None and not is_classical(other) and not is_ssl(other)
