"""The private pyradiomics names the extraction wing depends on are all there (extract/_pyradiomics.py).

If a pyradiomics release renames one, this test fails with the list of what is missing, instead of
a batch failing half-way."""
import pytest
import radiomics

from radiomics_ssl.extract import _pyradiomics


def test_every_private_name_exists_in_this_pyradiomics():
  assert _pyradiomics.missing_names() == [], (
    f"pyradiomics {radiomics.__version__} renamed what pyradiomicsssl depends on: {_pyradiomics.missing_names()}")


def test_a_renamed_case_loop_is_named_in_the_error(monkeypatch):
  monkeypatch.delattr(_pyradiomics.PyRadiomicsCommandLine, _pyradiomics.CASE_LOOP)
  with pytest.raises(ImportError, match=r"PyRadiomicsCommandLine._processCases, called by run\(\)"):
    _pyradiomics.require()
