"""Without the `[dicom]` extra (pydicom and highdicom blocked in the command's processes, or absent):
a DICOM case fails naming the extra, and the other cases of the batch complete, as NIfTI always did."""
from helpers import PARAMS, read_rows, run, write_cases

BLOCKER = '''
import importlib.abc, sys

class Blocked(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in ("pydicom", "highdicom"):
      raise ImportError(f"No module named {name!r} (blocked by the test)")

sys.meta_path.insert(0, Blocked())
'''


def test_a_dicom_case_names_the_extra_and_the_others_complete(shared_data, tmp_path):
  import os

  (tmp_path / "blocker").mkdir()
  (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCKER)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocker"), os.environ.get("PYTHONPATH", "")]))
  sts = shared_data / "dicom" / "sts" / "STS_001"
  rows = [{"ID": "dicom", "Image": str(sts / "image"), "Mask": str(sts / "rtstruct" / "RS.dcm")},
          {"ID": "nifti", "Image": str(sts / "mirp-nifti" / "image.nii.gz"), "Mask": str(sts / "mirp-nifti" / "mask.nii.gz")}]
  batch = write_cases(tmp_path / "batch.csv", rows)
  result = run("pyradiomicsssl", batch, "--param", PARAMS / "ssl_pet.yaml", "--format", "csv", "--out", tmp_path / "o.csv",
               env=env)
  assert result.returncode == 1, result.stderr[-2000:]
  assert "\n  dicom" in result.stderr and "pip install 'radiomics_ssl[dicom]'" in result.stderr
  assert [row["ID"] for row in read_rows(tmp_path / "o.csv")] == ["nifti"]
