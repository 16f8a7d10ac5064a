"""PET SUVbw against hand computations written out here (QIBA's vendor-neutral pseudo-code)."""
import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl import dicom
from radiomics_ssl.dicom import DicomError

WEIGHT_KG, DOSE_BQ, HALF_LIFE_S, RAW = 70.0, 370e6, 6586.2, 1000


def pet(make, folder, units="BQML", decay="START", drop=(), acquisition=("110000",) * 4, series_time="110000",
        start_time="100000", start_datetime=None, philips=None, ge_scan=None):
  """A 4-slice PET (every value RAW Bq/ml); `drop` removes tags (a radiopharmaceutical one included)."""
  from pydicom.dataset import Dataset
  from pydicom.sequence import Sequence

  def edit(ds, k):
    ds.Units, ds.CorrectedImage, ds.DecayCorrection = units, ["ATTN", "DECY"], decay
    ds.PatientWeight, ds.SeriesDate, ds.SeriesTime = WEIGHT_KG, "20240101", series_time
    ds.AcquisitionDate, ds.AcquisitionTime = "20240101", acquisition[k]
    drug = Dataset()
    drug.RadionuclideTotalDose, drug.RadionuclideHalfLife = DOSE_BQ, HALF_LIFE_S
    drug.RadiopharmaceuticalStartTime = start_time
    if start_datetime:
      drug.RadiopharmaceuticalStartDateTime = start_datetime
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    if philips is not None:
      ds.private_block(0x7053, "Philips PET Private Group", create=True).add_new(0x00, "DS", philips)
    if ge_scan is not None:
      ds.private_block(0x0009, "GEMS_PETD_01", create=True).add_new(0x0D, "DT", ge_scan)
    for keyword in drop:
      for target in (ds, drug):
        if keyword in target:
          delattr(target, keyword)

  make.series(folder, n=4, modality="PT", values=np.full((4, 6, 5), RAW), per_slice=edit)
  return str(folder)


def decayed_factor(seconds):
  """SUVbw factor by hand: weight [g] over the dose decayed over `seconds` of F-18."""
  return WEIGHT_KG * 1000 / (DOSE_BQ * 2 ** (-seconds / HALF_LIFE_S))


def test_start_decays_the_dose_to_the_series_time(make, tmp_path):
  image, info = dicom.read_image(pet(make, tmp_path))
  expected = decayed_factor(3600)  # injection 10:00, series 11:00
  assert info["SUVFactor"] == pytest.approx(expected, rel=1e-12)
  assert np.allclose(sitk.GetArrayFromImage(image), RAW * expected, rtol=1e-6)
  inputs = info["SUVInputs"]
  assert inputs["DecayTime_s"] == 3600 and inputs["ScanTimeSource"] == "SeriesDate/SeriesTime"
  import json
  json.dumps(inputs)  # JSON-able diagnostics


def test_admin_does_not_decay(make, tmp_path):
  _, info = dicom.read_image(pet(make, tmp_path, decay="ADMIN"))
  assert info["SUVFactor"] == pytest.approx(WEIGHT_KG * 1000 / DOSE_BQ, rel=1e-12)


def test_start_datetime_is_preferred_and_midnight_is_spanned(make, tmp_path):
  _, info = dicom.read_image(pet(make, tmp_path / "dt", start_time="000000", start_datetime="20240101103000"))
  assert info["SUVFactor"] == pytest.approx(decayed_factor(1800), rel=1e-12)
  _, info = dicom.read_image(pet(make, tmp_path / "night", start_time="233000", series_time="003000",
                                 acquisition=("003000",) * 4))
  assert info["SUVFactor"] == pytest.approx(decayed_factor(3600), rel=1e-12)


def test_series_time_after_acquisition_uses_the_earliest_acquisition(make, tmp_path):
  """QIBA: a series time after the acquisition time may be a post-processed series."""
  _, info = dicom.read_image(pet(make, tmp_path / "late", series_time="130000"))
  assert info["SUVFactor"] == pytest.approx(decayed_factor(3600), rel=1e-12)
  assert "earliest" in info["SUVInputs"]["ScanTimeSource"]
  _, info = dicom.read_image(pet(make, tmp_path / "ge", series_time="130000", ge_scan="20240101104500"))
  assert info["SUVFactor"] == pytest.approx(decayed_factor(2700), rel=1e-12)
  assert "GE private" in info["SUVInputs"]["ScanTimeSource"]


def test_two_beds_give_the_one_bed_factor(make, tmp_path):
  one = dicom.read_image(pet(make, tmp_path / "one"))[1]["SUVFactor"]
  beds = ("110000", "110000", "111500", "111500")
  assert dicom.read_image(pet(make, tmp_path / "two", acquisition=beds))[1]["SUVFactor"] == one
  late = dicom.read_image(pet(make, tmp_path / "late", acquisition=beds, series_time="120000"))[1]["SUVFactor"]
  assert late == one


def test_gml_is_kept(make, tmp_path):
  image, info = dicom.read_image(pet(make, tmp_path, units="GML", drop=("PatientWeight",)))
  assert info["SUVFactor"] == 1.0 and np.all(sitk.GetArrayFromImage(image) == RAW)


def test_cnts_needs_the_philips_factor(make, tmp_path):
  image, info = dicom.read_image(pet(make, tmp_path / "philips", units="CNTS", philips="0.000123"))
  assert info["SUVFactor"] == pytest.approx(0.000123) and np.allclose(sitk.GetArrayFromImage(image), RAW * 0.000123)
  with pytest.raises(DicomError, match=r"CNTS without the Philips SUV scale factor \(7053,1000\)"):
    dicom.read_image(pet(make, tmp_path / "bare", units="CNTS"))


@pytest.mark.parametrize("tag", ["PatientWeight", "RadionuclideTotalDose", "RadionuclideHalfLife",
                                 "RadiopharmaceuticalStartTime", "SeriesTime", "Units", "DecayCorrection",
                                 "CorrectedImage"])
def test_a_missing_input_is_named(make, tmp_path, tag):
  folder = pet(make, tmp_path, drop=(tag,))
  with pytest.raises(DicomError, match=f"{tmp_path}.*{tag}"):
    dicom.read_image(folder)


def test_raw_values_on_request(make, tmp_path):
  image, info = dicom.read_image(pet(make, tmp_path, drop=("PatientWeight",)), suv=False)
  assert info["SUVFactor"] is None and np.all(sitk.GetArrayFromImage(image) == RAW)


@pytest.mark.parametrize("suv", [True, False])
def test_the_commands_read_pet_in_suv_unless_the_setting_keeps_raw_values(make, tmp_path, suv):
  """Through the commands' per-case step: `dicomSUV` (default true) decides, and the factor and its
  inputs are in the row."""
  import radiomics_ssl
  from radiomics_ssl.extract.batch import CaseExtractor, extract_case

  radiomics_ssl.register()
  folder = pet(make, tmp_path / "pet")
  from pydicom import dcmread

  slices = sorted((tmp_path / "pet").glob("*.dcm"))
  uids = [str(dcmread(str(path)).SOPInstanceUID) for path in slices]
  series = str(dcmread(str(slices[0])).SeriesInstanceUID)
  zs = sorted(float(dcmread(str(path)).ImagePositionPatient[2]) for path in slices)
  structure = make.rtstruct(tmp_path / "rs.dcm", series, uids, {"lesion": [("CLOSED_PLANAR", make.square(0.6, 0.6, 3.4, 3.4, z))
                                                                          for z in zs[1:3]]})
  extractor = CaseExtractor({"featureClass": {"firstorder": ["Mean"]}, "setting": {"dicomSUV": suv}})
  result = extract_case((1, {"ID": "pet", "Image": folder, "Mask": structure}, extractor, None))
  assert result.error is None, result.error
  expected = decayed_factor(3600) if suv else 1.0
  assert float(result.vector["original_firstorder_Mean"]) == pytest.approx(RAW * expected, rel=1e-6)
  assert (float(result.vector["diagnostics_DICOM_SUVFactor"]) == pytest.approx(expected, rel=1e-12)) if suv else \
    "diagnostics_DICOM_SUVFactor" not in result.vector
  assert result.vector["diagnostics_DICOM_ROI"] == "lesion"
