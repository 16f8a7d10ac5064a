"""Fixtures for the DICOM tests: the real series in ../shared/data/dicom, and small synthetic series
and structure sets written with pydicom into tmp_path (never into the repository)."""
import importlib.util

import numpy as np
import pytest

from helpers import shared_data_dir

FOR_UID = "1.2.826.0.1.3680043.8.498.1000"


@pytest.fixture(scope="session")
def dicom_data():
  """../shared/data/dicom (missing data fails, as shared_data_dir does)."""
  path = shared_data_dir() / "dicom"
  if not (path / "README.md").is_file():
    pytest.fail(f"DICOM test data not found at {path}")
  return path


def _file_meta(sop_class, sop_uid):
  from pydicom.dataset import FileMetaDataset
  from pydicom.uid import ExplicitVRLittleEndian

  meta = FileMetaDataset()
  meta.MediaStorageSOPClassUID = sop_class
  meta.MediaStorageSOPInstanceUID = sop_uid
  meta.TransferSyntaxUID = ExplicitVRLittleEndian
  return meta


def _save(dataset, path):
  dataset.save_as(str(path), enforce_file_format=True)
  return str(path)


def write_series(folder, n=3, rows=6, columns=5, pixel_spacing=(1.0, 1.0), thickness=2.0, gaps=None,
                 origin=(0.0, 0.0, 0.0), orientation=(1, 0, 0, 0, 1, 0), modality="CT", values=None,
                 series_uid=None, description="synthetic", slope=1.0, intercept=0.0, per_slice=None):
  """A classic single-frame series of `n` slices; returns (folder, series uid, [SOPInstanceUIDs in position order]).

  Slices are written with InstanceNumber and SliceLocation in the reverse order of their position
  (both must be ignored). `per_slice(dataset, k)` may edit each slice before it is saved.
  """
  from pydicom.dataset import Dataset
  from pydicom.uid import generate_uid

  folder.mkdir(parents=True, exist_ok=True)
  series_uid = series_uid or generate_uid()
  row, column = np.array(orientation[:3], float), np.array(orientation[3:], float)
  normal = np.cross(row, column)
  offsets = np.cumsum([0.0] + list(gaps if gaps is not None else [thickness] * (n - 1)))
  sop_class = {"CT": "1.2.840.10008.5.1.4.1.1.2", "PT": "1.2.840.10008.5.1.4.1.1.128"}[modality]
  uids = []
  for k in range(n):
    uid = generate_uid()
    uids.append(uid)
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, uid)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = modality, series_uid, "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesDescription, ds.FrameOfReferenceUID = description, FOR_UID
    ds.InstanceNumber, ds.SliceLocation = n - k, float(-offsets[k])
    ds.ImagePositionPatient = [float(v) for v in np.array(origin) + offsets[k] * normal]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = list(pixel_spacing)
    if thickness is not None:
      ds.SliceThickness = thickness
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    plane = values[k] if values is not None else np.full((rows, columns), k + 1)
    ds.PixelData = np.asarray(plane, dtype=np.uint16).tobytes()
    if per_slice:
      per_slice(ds, k)
    _save(ds, folder / f"slice{k:03d}.dcm")
  return folder, series_uid, uids


def write_rtstruct(path, series_uid, image_uids, rois, for_uid=FOR_UID, reference_series=True):
  """An RTSTRUCT with `rois` {name: [(contour type, [(x, y, z), ...]), ...]}; returns the path."""
  from pydicom.dataset import Dataset
  from pydicom.sequence import Sequence
  from pydicom.uid import generate_uid

  sop_class, uid = "1.2.840.10008.5.1.4.1.1.481.3", generate_uid()
  ds = Dataset()
  ds.file_meta = _file_meta(sop_class, uid)
  ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, uid, "RTSTRUCT"
  ds.SeriesInstanceUID, ds.StudyInstanceUID = generate_uid(), "1.2.826.0.1.3680043.8.498.2"
  frame = Dataset()
  frame.FrameOfReferenceUID = for_uid
  if reference_series:
    series, study = Dataset(), Dataset()
    series.SeriesInstanceUID = series_uid
    series.ContourImageSequence = Sequence([_image_ref(u) for u in image_uids])
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", "1.2.826.0.1.3680043.8.498.2"
    study.RTReferencedSeriesSequence = Sequence([series])
    frame.RTReferencedStudySequence = Sequence([study])
  ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
  roi_items, contour_items = [], []
  for number, (name, contours) in enumerate(rois.items(), start=1):
    item = Dataset()
    item.ROINumber, item.ROIName, item.ReferencedFrameOfReferenceUID = number, name, for_uid
    roi_items.append(item)
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber = number
    sequence = []
    for kind, points in contours:
      contour = Dataset()
      contour.ContourGeometricType, contour.NumberOfContourPoints = kind, len(points)
      contour.ContourData = [float(v) for point in points for v in point]
      sequence.append(contour)
    if sequence:
      roi_contour.ContourSequence = Sequence(sequence)
    contour_items.append(roi_contour)
  ds.StructureSetROISequence = Sequence(roi_items)
  ds.ROIContourSequence = Sequence(contour_items)
  return _save(ds, path)


def _image_ref(uid):
  from pydicom.dataset import Dataset

  ref = Dataset()
  ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", uid
  return ref


def square(x0, y0, x1, y1, z):
  return [(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)]


@pytest.fixture
def make():
  """The synthetic writers, for tests (conftest modules are not importable by name)."""
  from types import SimpleNamespace

  return SimpleNamespace(series=write_series, rtstruct=write_rtstruct, square=square, for_uid=FOR_UID)


DICOM_EXTRA = all(importlib.util.find_spec(name) for name in ("pydicom", "highdicom"))


def pytest_collection_modifyitems(config, items):
  """Without the `[dicom]` extra, the tests that read DICOM are skipped with that reason (`.ci/run`
  runs the suite with and without it); `test_without_extra.py` runs in both."""
  if DICOM_EXTRA:
    return
  skip = pytest.mark.skip(reason="needs the [dicom] extra (pip install 'radiomics_ssl[dicom]'); .ci/run runs it with the extra")
  for item in items:
    if "tests/dicom/" in str(item.fspath) and "without_extra" not in str(item.fspath):
      item.add_marker(skip)
