"""RTSTRUCT masks: physical placement, even-odd holes, references, against MIRP on the STS patients."""
import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl import dicom
from radiomics_ssl.dicom import DicomError

# Measured on the shared data (this reader vs MIRP's NIfTI): identical masks (Dice 1.0, same voxel
# counts 5095 / 555 / 817) and SUV differences of at most 1.9e-6, float32 rounding; the bounds below
# leave room for a different polygon fill rule on boundary voxels, not for a misplaced mask.
STS = ("STS_001", "STS_002", "STS_003")


@pytest.mark.parametrize("patient", STS)
def test_sts_matches_mirp(dicom_data, patient):
  case = dicom_data / "sts" / patient
  image, info = dicom.read_image(str(case / "image"))
  mask, mask_info = dicom.read_mask(str(case / "rtstruct" / "RS.dcm"), image, info, roi="gtv_mass_pet")
  reference, reference_mask = (sitk.ReadImage(str(case / "mirp-nifti" / name)) for name in ("image.nii.gz", "mask.nii.gz"))
  assert image.GetSize() == reference.GetSize()
  for getter in ("GetOrigin", "GetSpacing", "GetDirection"):
    assert np.allclose(getattr(image, getter)(), getattr(reference, getter)(), atol=1e-3), getter
  assert info["SUVFactor"] == 1.0 and info["SUVInputs"]["Units"] == "GML"
  difference = float(np.max(np.abs(sitk.GetArrayFromImage(image) - sitk.GetArrayFromImage(reference))))
  ours, theirs = sitk.GetArrayFromImage(mask).astype(bool), sitk.GetArrayFromImage(reference_mask).astype(bool)
  dice = 2 * np.sum(ours & theirs) / (ours.sum() + theirs.sum())
  print(f"{patient}: max |SUV - MIRP| {difference:.3g}, Dice {dice:.4f}, voxels {ours.sum()} vs MIRP {theirs.sum()}")
  assert difference < 1e-4
  assert dice >= 0.99 and abs(int(ours.sum()) - int(theirs.sum())) <= 0.01 * theirs.sum()
  assert mask.GetPixelID() == sitk.sitkUInt8 and mask.GetOrigin() == image.GetOrigin()
  assert mask_info["ROI"] == "GTV_Mass_PET" and "drawn on series" in mask_info["Notes"][0]


def test_rt_utils_mock(dicom_data):
  folder = dicom_data / "rtstruct-mock" / "mock_data"
  image, info = dicom.read_image(str(folder))
  mask, mask_info = dicom.read_mask(str(folder / "rt.dcm"), image, info, roi="ROI-1")
  assert sitk.GetArrayFromImage(mask).sum() > 0
  assert "FrameOfReferenceUID" in mask_info["Notes"][0]  # rt-utils issue #29: a fresh FoR UID, this series named
  with pytest.raises(DicomError) as raised:
    dicom.read_mask(str(folder / "invalid_reference_rt.dcm"), image, info, roi="ROI-1")
  message = str(raised.value)
  assert "invalid_reference_rt.dcm" in message and info["SeriesInstanceUID"] in message
  assert "2.16.840.1.114362.1.11940992.23790159890.563423472.148.92" in message
  # without RTReferencedStudySequence it is read (same frame of reference), but its third contour lies on a
  # third plane the two-slice series lacks: refused, never a mask one slice short
  with pytest.raises(DicomError, match=r"non_existent_reference_rt.dcm: ROI 'ROI-1' has a contour at z = 70 mm, beyond"):
    dicom.read_mask(str(folder / "non_existent_reference_rt.dcm"), image, info, roi="roi-1")


def _image(make, tmp_path, **kwargs):
  folder, series_uid, uids = make.series(tmp_path / "image", n=3, rows=10, columns=10, **kwargs)
  image, info = dicom.read_image(str(folder))
  return image, info, series_uid, uids


def test_a_hole_is_a_hole(make, tmp_path):
  """Outer square (pixel centres 1..8) and inner square (3..6) on one plane give a ring."""
  image, info, series_uid, uids = _image(make, tmp_path)
  outer, inner = make.square(0.5, 0.5, 8.5, 8.5, 2.0), make.square(2.5, 2.5, 6.5, 6.5, 2.0)
  path = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, {"ring": [("CLOSED_PLANAR", outer), ("CLOSED_PLANAR", inner)]})
  mask, info_mask = dicom.read_mask(path, image, info, roi="RING")
  array = sitk.GetArrayFromImage(mask)
  expected = np.zeros((3, 10, 10), np.uint8)
  expected[1, 1:9, 1:9] = 1
  expected[1, 3:7, 3:7] = 0
  assert np.array_equal(array, expected)
  assert info_mask["ROI"] == "ring" and info_mask["MaskSOPInstanceUID"]


def test_physical_placement_on_an_oblique_grid(make, tmp_path):
  """A contour built from the image's own geometry lands on the voxels it encloses."""
  orientation = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # sagittal slices, normal along -x
  image, info, series_uid, uids = _image(make, tmp_path, orientation=orientation, origin=(5.0, -3.0, 7.0))
  corners = [(1.5, 1.5), (4.5, 1.5), (4.5, 5.5), (1.5, 5.5)]  # continuous (column, row) indices
  points = [image.TransformContinuousIndexToPhysicalPoint((c, r, 2.0)) for c, r in corners]
  path = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, {"box": [("CLOSED_PLANAR", points)]})
  array = sitk.GetArrayFromImage(dicom.read_mask(path, image, info)[0])
  expected = np.zeros((3, 10, 10), np.uint8)
  expected[2, 2:6, 2:5] = 1
  assert np.array_equal(array, expected)


def test_contour_off_the_slice_planes_is_refused(make, tmp_path):
  image, info, series_uid, uids = _image(make, tmp_path)  # planes at z = 0, 2, 4
  path = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, {"tumour": [("CLOSED_PLANAR", make.square(1, 1, 5, 5, 3.0))]})
  with pytest.raises(DicomError, match=r"rs.dcm: ROI 'tumour' has a contour 1 mm off"):
    dicom.read_mask(path, image, info)


def test_absent_roi_lists_the_names(make, tmp_path):
  image, info, series_uid, uids = _image(make, tmp_path)
  rois = {"GTV": [("CLOSED_PLANAR", make.square(1, 1, 5, 5, 2.0))], "Lung": [("CLOSED_PLANAR", make.square(1, 1, 5, 5, 0.0))]}
  path = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, rois)
  with pytest.raises(DicomError, match=r"rs.dcm: ROI 'GTV2' not in the structure set \(ROIs present: 1: 'GTV', 2: 'Lung'\)"):
    dicom.read_mask(path, image, info, roi="GTV2")
  with pytest.raises(DicomError, match="2 ROIs, choose one"):
    dicom.read_mask(path, image, info)
  assert dicom.read_mask(path, image, info, label=2)[1]["ROI"] == "Lung"


def test_points_are_ignored_and_an_empty_roi_is_named(make, tmp_path):
  image, info, series_uid, uids = _image(make, tmp_path)
  rois = {"GTV": [("CLOSED_PLANAR", make.square(1, 1, 5, 5, 2.0)), ("POINT", [(3, 3, 2.0)])],
          "marker": [("POINT", [(3, 3, 2.0)])], "nothing": []}
  path = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, rois)
  assert "POINT" in dicom.read_mask(path, image, info, roi="GTV")[1]["Notes"][0]
  for name in ("marker", "nothing"):
    with pytest.raises(DicomError, match=f"ROI '{name}' is empty"):
      dicom.read_mask(path, image, info, roi=name)


def test_frame_of_reference_mismatch_names_both(make, tmp_path):
  image, info, series_uid, uids = _image(make, tmp_path)
  other = "1.2.826.0.1.3680043.8.498.999"
  path = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, {"GTV": [("CLOSED_PLANAR", make.square(1, 1, 5, 5, 2.0))]},
                       for_uid=other, reference_series=False)
  with pytest.raises(DicomError, match=f"rs.dcm: structure set FrameOfReferenceUID {other} differs from the image's "
                                       f"{make.for_uid}"):
    dicom.read_mask(path, image, info)
