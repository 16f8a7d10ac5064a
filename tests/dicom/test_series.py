"""The series reader: geometry from the files' own tags, compared with SimpleITK/GDCM on real series."""
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl import dicom
from radiomics_ssl.dicom import DicomError


def _gdcm(folder):
  reader = sitk.ImageSeriesReader()
  reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
  return reader.Execute()


def _same_geometry(image, reference, tolerance=1e-3):
  assert image.GetSize() == reference.GetSize()
  for getter in ("GetOrigin", "GetSpacing", "GetDirection"):
    assert np.allclose(getattr(image, getter)(), getattr(reference, getter)(), atol=tolerance), getter
  assert image.GetDimension() == 3


@pytest.mark.parametrize("name", ["mock_data", "oriented_data"])
def test_geometry_and_values_match_gdcm(dicom_data, name):
  """oriented_data has a non-standard orientation and no SliceLocation."""
  folder = dicom_data / "rtstruct-mock" / name
  image, info = dicom.read_image(str(folder))
  reference = _gdcm(folder)
  _same_geometry(image, reference)
  assert np.allclose(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(reference), atol=1e-3)
  assert info["Modality"] == "CT" and info["SUVFactor"] is None


def test_one_slice_series_needs_its_slice_thickness(dicom_data, tmp_path):
  """one_slice_data has no SliceThickness: refused by name (GDCM assumes 1 mm); with the tag added
  it reads as a 3D image with GDCM's origin, direction and in-plane spacing."""
  import pydicom

  folder = dicom_data / "rtstruct-mock" / "one_slice_data"
  with pytest.raises(DicomError, match="one_slice_data.*SliceThickness"):
    dicom.read_image(str(folder))
  dataset = pydicom.dcmread(folder / "0.dcm")
  dataset.SliceThickness = 3.0
  dataset.save_as(tmp_path / "0.dcm")
  image, _ = dicom.read_image(str(tmp_path))
  reference = _gdcm(folder)
  assert image.GetSize() == (100, 50, 1)
  assert np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3)
  assert np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-3)
  assert np.allclose(image.GetSpacing(), (2.5, 3.5, 3.0))


def test_enhanced_multiframe_equals_the_classic_series(dicom_data):
  classic, _ = dicom.read_image(str(dicom_data / "seg-23x38x3" / "image"))
  enhanced, _ = dicom.read_image(str(dicom_data / "seg-23x38x3" / "multiframe"))
  _same_geometry(enhanced, classic, 1e-6)
  assert np.array_equal(sitk.GetArrayFromImage(enhanced), sitk.GetArrayFromImage(classic))


def test_order_is_by_position_not_instance_number(make, tmp_path):
  """Slices are written with InstanceNumber and SliceLocation reversed; slice k holds the value k+1."""
  folder, _, _ = make.series(tmp_path / "s", n=4, origin=(10, 20, -5), slope=2.0, intercept=-1.0)
  image, info = dicom.read_image(str(folder))
  values = sitk.GetArrayFromImage(image)
  assert image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64)
  assert [float(values[k, 0, 0]) for k in range(4)] == [2.0 * (k + 1) - 1 for k in range(4)]
  assert image.GetOrigin() == (10, 20, -5) and image.GetSpacing() == (1, 1, 2)
  assert info["SliceFiles"] == [f"slice{k:03d}.dcm" for k in range(4)]


def test_per_slice_rescale_slope(make, tmp_path):
  folder, _, _ = make.series(tmp_path / "s", n=3, per_slice=lambda ds, k: setattr(ds, "RescaleSlope", 0.5 * (k + 1)))
  values = sitk.GetArrayFromImage(dicom.read_image(str(folder))[0])
  assert [float(values[k, 0, 0]) for k in range(3)] == [0.5 * (k + 1) * (k + 1) for k in range(3)]


def test_irregular_spacing_is_refused(make, tmp_path):
  folder, _, _ = make.series(tmp_path / "gap", n=4, gaps=[2.0, 4.0, 2.0])
  with pytest.raises(DicomError, match=r"gap.*not uniform"):
    dicom.read_image(str(folder))


def test_two_series_are_listed(make, tmp_path):
  _, first, _ = make.series(tmp_path / "a", n=2, description="first one")
  _, second, _ = make.series(tmp_path / "b", n=3, description="second one")
  both = tmp_path / "both"
  both.mkdir()
  for name in ("a", "b"):
    for path in (tmp_path / name).iterdir():
      shutil.move(str(path), both / f"{name}_{path.name}")
  with pytest.raises(DicomError) as raised:
    dicom.read_image(str(both))
  message = str(raised.value)
  assert message.startswith(f"{both}: 2 image series")
  assert f"{first} (CT, 'first one', 2 file(s))" in message and f"{second} (CT, 'second one', 3 file(s))" in message
  image, info = dicom.read_image(str(both), series_uid=second)
  assert image.GetSize()[2] == 3 and info["SeriesInstanceUID"] == second


def test_folder_without_dicom_is_named(tmp_path):
  (tmp_path / "notes.txt").write_text("no images here")
  with pytest.raises(DicomError, match=f"{tmp_path}: no DICOM files"):
    dicom.read_image(str(tmp_path))
  with pytest.raises(DicomError, match="does not exist"):
    dicom.read_image(str(tmp_path / "absent"))


def test_fingerprint(make, tmp_path):
  folder, _, _ = make.series(tmp_path / "a", n=2)
  before = dicom.fingerprint(str(folder))
  shutil.copytree(folder, tmp_path / "b")
  assert dicom.fingerprint(str(tmp_path / "b")) == before  # independent of the folder's location
  (folder / "README").write_text("not DICOM")
  assert dicom.fingerprint(str(folder)) == before  # only the series' files count
  data = bytearray((folder / "slice001.dcm").read_bytes())
  data[-1] ^= 1
  (folder / "slice001.dcm").write_bytes(bytes(data))
  assert dicom.fingerprint(str(folder)) != before


def test_is_dicom(dicom_data, tmp_path):
  assert dicom.is_dicom_image(str(dicom_data / "sts" / "STS_001" / "image"))
  assert not dicom.is_dicom_image(str(dicom_data / "sts" / "STS_001" / "mirp-nifti"))
  assert not dicom.is_dicom_image(str(dicom_data / "sts" / "STS_001" / "rtstruct" / "RS.dcm"))
  assert dicom.is_dicom_mask(str(dicom_data / "sts" / "STS_001" / "rtstruct" / "RS.dcm"))
  assert dicom.is_dicom_mask(str(dicom_data / "seg-23x38x3" / "seg" / "label.seg"))
  assert not dicom.is_dicom_mask(str(dicom_data / "sts" / "STS_001" / "mirp-nifti" / "mask.nii.gz"))
  (tmp_path / "fake.dcm").write_text("not DICOM")
  assert not dicom.is_dicom_mask(str(tmp_path / "fake.dcm"))
