"""DICOM-SEG masks: dcmqi's bit-packing phantom voxel for voxel, segment choice, overlap, references."""
import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_ssl import dicom
from radiomics_ssl.dicom import DicomError


@pytest.fixture
def phantom(dicom_data):
  return dicom_data / "seg-23x38x3"


@pytest.mark.parametrize("series", ["image", "multiframe"])
def test_phantom_equals_dcmqi(phantom, series):
  """Frames 23 pixels wide: bit-packed frames that do not start on a byte boundary."""
  image, info = dicom.read_image(str(phantom / series))
  reference = sitk.ReadImage(str(phantom / "nrrd" / "label.nrrd"))
  for choice in ({}, {"label": 1}, {"roi": "LIVER"}):
    mask, mask_info = dicom.read_mask(str(phantom / "seg" / "label.seg"), image, info, **choice)
    assert np.array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(reference))
    assert np.allclose(mask.GetOrigin(), reference.GetOrigin()) and np.allclose(mask.GetSpacing(), reference.GetSpacing())
    assert mask_info["SegmentNumber"] == 1 and mask_info["ROI"] == "Liver" and mask_info["MaskSOPInstanceUID"]
  if series == "multiframe":  # the SEG was made on the classic series: placed by position, and said so
    assert "made on series" in mask_info["Notes"][0]


def test_absent_segment_lists_the_segments(phantom):
  image, info = dicom.read_image(str(phantom / "image"))
  with pytest.raises(DicomError, match=r"label.seg: segment 'kidney' not in the SEG \(segments present: 1: 'Liver'\)"):
    dicom.read_mask(str(phantom / "seg" / "label.seg"), image, info, roi="kidney")
  with pytest.raises(DicomError, match=r"label.seg: segment number 2 not in the SEG \(segments present: 1: 'Liver'\)"):
    dicom.read_mask(str(phantom / "seg" / "label.seg"), image, info, label=2)


def test_frame_of_reference_mismatch_names_both(phantom, tmp_path):
  import pydicom

  image, info = dicom.read_image(str(phantom / "image"))
  seg = pydicom.dcmread(phantom / "seg" / "label.seg")
  seg.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.777"
  seg.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.778"
  seg.save_as(tmp_path / "moved.seg")
  with pytest.raises(DicomError) as raised:
    dicom.read_mask(str(tmp_path / "moved.seg"), image, info)
  message = str(raised.value)
  assert message.startswith(f"{tmp_path / 'moved.seg'}: SEG FrameOfReferenceUID 1.2.826.0.1.3680043.8.498.777 differs")
  assert info["FrameOfReferenceUID"] in message
  assert "1.2.826.0.1.3680043.8.498.778" in message and info["SeriesInstanceUID"] in message


def test_overlapping_segments_stay_separate(phantom, tmp_path):
  """A two-segment SEG written by highdicom: each segment reads back alone, the overlap in both."""
  import highdicom
  import pydicom
  from pydicom.sr.codedict import codes

  sources = [pydicom.dcmread(path) for path in sorted((phantom / "image").glob("*.dcm"))]
  image, info = dicom.read_image(str(phantom / "image"))
  first, second = np.zeros((3, 38, 23), bool), np.zeros((3, 38, 23), bool)
  first[1, 5:20, 4:12] = True
  second[1, 10:30, 8:20] = True
  second[2, 0:3, 0:3] = True
  descriptions = [highdicom.seg.SegmentDescription(
    segment_number=number, segment_label=label, segmented_property_category=codes.SCT.Tissue,
    segmented_property_type=codes.SCT.Tissue, algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL)
    for number, label in ((1, "first"), (2, "second"))]
  order = np.argsort([float(s.ImagePositionPatient[2]) for s in sources])
  sources = [sources[k] for k in order]
  segmentation = highdicom.seg.Segmentation(
    source_images=sources, pixel_array=np.stack([first, second], axis=-1).astype(np.uint8),
    segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
    series_instance_uid=highdicom.UID(), series_number=2, sop_instance_uid=highdicom.UID(), instance_number=1,
    manufacturer="test", manufacturer_model_name="test", software_versions="0", device_serial_number="0")
  segmentation.save_as(tmp_path / "two.seg")
  for label, expected in ((1, first), (2, second)):
    mask, _ = dicom.read_mask(str(tmp_path / "two.seg"), image, info, label=label)
    assert np.array_equal(sitk.GetArrayFromImage(mask).astype(bool), expected)
  with pytest.raises(DicomError, match=r"2 segments, choose one .*1: 'first', 2: 'second'"):
    dicom.read_mask(str(tmp_path / "two.seg"), image, info)


def test_missing_extra_names_it(monkeypatch, phantom):
  import importlib

  from radiomics_ssl.dicom import errors

  real = importlib.import_module

  def fail(name, *args):
    if name.split(".")[0] in ("pydicom", "highdicom"):
      raise ImportError(f"No module named '{name}'")
    return real(name, *args)

  monkeypatch.setattr(errors.importlib, "import_module", fail)
  with pytest.raises(ImportError, match=r"pip install 'radiomics_ssl\[dicom\]'") as raised:
    dicom.read_image(str(phantom / "image"))
  assert isinstance(raised.value, dicom.DicomError)
  assert dicom.is_dicom_image(str(phantom / "image"))  # the folder test needs no pydicom
