"""DICOM through the commands: a series folder with its RTSTRUCT or SEG as a case of pyradiomicsssl
(and so of every command on the one batch runner), beside MIRP's NIfTI conversion of the same data."""
import json

import numpy as np
import pytest
from radiomics.featureextractor import RadiomicsFeatureExtractor

import radiomics_ssl
from helpers import PARAMS, read_rows, run, write_cases

radiomics_ssl.register()  # the API test below

STS = ("STS_001", "STS_002", "STS_003")


def dicom_row(dicom_data, case, **columns):
  folder = dicom_data / "sts" / case
  return dict({"ID": case, "Image": str(folder / "image"), "Mask": str(folder / "rtstruct" / "RS.dcm")}, **columns)


def nifti_row(dicom_data, case):
  folder = dicom_data / "sts" / case / "mirp-nifti"
  return {"ID": case, "Image": str(folder / "image.nii.gz"), "Mask": str(folder / "mask.nii.gz")}


@pytest.fixture(scope="module")
def sts_runs(dicom_data, tmp_path_factory):
  """pyradiomicsssl with params/ssl_pet.yaml on STS_001-003, from DICOM and from MIRP's NIfTI."""
  folder = tmp_path_factory.mktemp("sts")
  columns = ("ID", "Image", "Mask", "ROI")
  rows = {"dicom": [dicom_row(dicom_data, case, ROI="gtv_mass_pet") for case in STS],  # names match case-insensitively
          "nifti": [dict(nifti_row(dicom_data, case), ROI="") for case in STS]}
  out = {}
  for name, cases in rows.items():
    result = run("pyradiomicsssl", write_cases(folder / f"{name}.csv", cases, columns), "--param", PARAMS / "ssl_pet.yaml",
                 "--jobs", "2", "--format", "csv", "--out", folder / f"{name}-rows.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    out[name] = {row["ID"]: row for row in read_rows(folder / f"{name}-rows.csv")}
  return out


def test_sts_pet_from_dicom_gives_mirps_features(sts_runs):
  for case in STS:
    dicom, nifti = sts_runs["dicom"][case], sts_runs["nifti"][case]
    classical = [k for k in nifti if k.startswith("original_") and "_ssl_" not in k]
    ssl = [k for k in nifti if k.startswith("original_ssl_")]
    assert len(classical) == 107 and len(ssl) == 256
    a, b = (np.array([float(row[k]) for k in classical]) for row in (dicom, nifti))
    assert np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)) < 1e-4, case  # MIRP stores SUV and origin as float32
    a, b = (np.array([float(row[k]) for k in ssl]) for row in (dicom, nifti))
    assert np.max(np.abs(a - b)) < 1e-4 * np.max(np.abs(b)), case  # of the block's largest magnitude, as across machines
    assert dicom["diagnostics_DICOM_ROI"] == "GTV_Mass_PET" and dicom["diagnostics_DICOM_SUVFactor"] == "1.0"
    assert json.loads(dicom["diagnostics_DICOM_SUVInputs"])["Units"] == "GML"
    assert dicom["diagnostics_DICOM_SeriesInstanceUID"].startswith("1.3.6.1.4.1.14519")
    assert "diagnostics_DICOM_ROI" not in nifti


def test_the_api_reads_dicom_on_the_same_road(dicom_data, sts_runs):
  row = dicom_row(dicom_data, "STS_002")
  vector = RadiomicsFeatureExtractor(str(PARAMS / "ssl_pet.yaml")).execute(row["Image"], row["Mask"])  # one ROI: taken
  command = sts_runs["dicom"]["STS_002"]
  assert {k: str(v) for k, v in vector.items() if k.startswith("original_")} == \
         {k: v for k, v in command.items() if k.startswith("original_")}


def test_bad_dicom_inputs_fail_in_one_line_and_the_others_complete(dicom_data, make, tmp_path):
  """The issue's bad-input table: each row fails with its message (exit 1), the good rows are written."""
  empty = tmp_path / "no-dicom"
  empty.mkdir()
  (empty / "notes.txt").write_text("not an image")
  two = tmp_path / "two-series"
  make.series(two, n=3)
  make.series(two, n=2, description="second")
  _, series_uid, uids = make.series(tmp_path / "plane", n=3)  # planes at z = 0, 2, 4
  off_plane = make.rtstruct(tmp_path / "off.dcm", series_uid, uids,
                            {"tumour": [("CLOSED_PLANAR", make.square(1, 1, 4, 4, 3.0))]})
  other_frame = make.rtstruct(tmp_path / "other-frame.dcm", "1.2.3.4", ["1.2.3.4.5"],
                              {"tumour": [("CLOSED_PLANAR", make.square(1, 1, 4, 4, 2.0))]}, for_uid="1.2.826.0.1.9",
                              reference_series=True)
  sts = dicom_data / "sts" / "STS_001"
  seg = dicom_data / "seg-23x38x3" / "seg" / "label.seg"
  bad = {
    "no-dicom": ({"Image": str(empty), "Mask": str(sts / "rtstruct" / "RS.dcm")}, "no DICOM"),
    "two-series": ({"Image": str(two), "Mask": off_plane}, "2 image series, choose one by SeriesInstanceUID"),
    "absent-roi": ({"Image": str(sts / "image"), "Mask": str(sts / "rtstruct" / "RS.dcm"), "ROI": "GTV_Lung"},
                   "'GTV_Lung' not in the structure set"),
    "other-frame": ({"Image": str(tmp_path / "plane"), "Mask": other_frame}, "1.2.826.0.1.9"),
    "seg-of-another-series": ({"Image": str(sts / "image"), "Mask": str(seg)}, "FrameOfReferenceUID"),
    "off-plane": ({"Image": str(tmp_path / "plane"), "Mask": off_plane}, "ROI 'tumour' has a contour 1 mm off"),
  }
  rows = [dicom_row(dicom_data, "STS_001", ROI="GTV_Mass_PET")] + [dict(row, ID=name, ROI=row.get("ROI", ""))
                                                                  for name, (row, _) in bad.items()]
  rows.append(dicom_row(dicom_data, "STS_003", ROI="GTV_Mass_PET"))
  batch = write_cases(tmp_path / "batch.csv", rows, ("ID", "Image", "Mask", "ROI"))
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_pet.yaml", "--setting", "sslUnitsCheck:false",
               "--format", "csv", "--out", tmp_path / "rows.csv")
  assert result.returncode == 1, result.stderr[-3000:]
  failures = result.stderr.split("case(s) failed:\n")[1].strip().splitlines()
  assert len(failures) == len(bad)
  for (name, (_, message)), line in zip(bad.items(), failures):
    assert line.strip().startswith(name) and message in line, (name, line)
  assert [row["ID"] for row in read_rows(tmp_path / "rows.csv")] == ["STS_001", "STS_003"]


def test_several_rois_of_one_structure_set_are_rows_of_their_own_and_resume(make, tmp_path):
  folder, series_uid, uids = make.series(tmp_path / "ct", n=3, rows=12, columns=12,
                                         values=np.arange(3 * 144).reshape(3, 12, 12) % 97 + 20)
  structure = make.rtstruct(tmp_path / "rs.dcm", series_uid, uids, {
    "GTV": [("CLOSED_PLANAR", make.square(1, 1, 6, 6, z)) for z in (0.0, 2.0, 4.0)],
    "Node": [("CLOSED_PLANAR", make.square(6, 5, 10, 10, z)) for z in (0.0, 2.0)]})
  rows = [{"ID": f"pt1-{roi}", "Image": str(folder), "Mask": structure, "ROI": roi} for roi in ("GTV", "Node")]
  batch = write_cases(tmp_path / "batch.csv", rows, ("ID", "Image", "Mask", "ROI"))
  args = ("--param", PARAMS / "ssl_only.yaml", "--setting", "sslUnitsCheck:false", "--out-dir", tmp_path / "cases",
          "--format", "csv")
  first = run("pyradiomicsssl", batch, *args, "--out", tmp_path / "a.csv")
  assert first.returncode == 0, first.stderr[-3000:]
  written = read_rows(tmp_path / "a.csv")
  assert [row["diagnostics_DICOM_ROI"] for row in written] == ["GTV", "Node"]
  assert written[0]["original_ssl_0"] != written[1]["original_ssl_0"]
  assert len(list((tmp_path / "cases").glob("*.csv"))) == 2
  again = run("pyradiomicsssl", batch, *args, "--out", tmp_path / "b.csv")
  assert again.returncode == 0 and "recomputed" not in again.stderr
  assert read_rows(tmp_path / "b.csv") == written
  data = bytearray((folder / "slice001.dcm").read_bytes())
  data[-1] ^= 1  # one pixel of one slice: a folder's fingerprint is its files'
  (folder / "slice001.dcm").write_bytes(bytes(data))
  third = run("pyradiomicsssl", batch, *args, "--out", tmp_path / "c.csv")
  assert third.returncode == 0 and "2 case(s) recomputed: image file changed (2)" in third.stderr
