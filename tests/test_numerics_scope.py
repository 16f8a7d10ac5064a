"""The encoder's numerics are set for each call and then restored: a torch program that calls the
Python API keeps its own thread count and TF32 flags (radiomics_ssl/inference.py, numerics_scope)."""
import torch
from radiomics.featureextractor import RadiomicsFeatureExtractor

import radiomics_ssl
from helpers import PARAMS
from radiomics_ssl.inference import numerics_scope

radiomics_ssl.register()


def tf32():
  return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def test_an_api_call_leaves_the_callers_threads_and_tf32_as_they_were(pyradiomics_cases):
  threads, flags = torch.get_num_threads(), tf32()
  try:
    torch.set_num_threads(2)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    vector = RadiomicsFeatureExtractor(str(PARAMS / "ssl_only.yaml"), sslThreads=1).execute(*pyradiomics_cases["breast1"])
    assert vector["diagnostics_ssl_Threads"] == 1 or vector["diagnostics_ssl_Device"].startswith("cuda")
    assert torch.get_num_threads() == 2 and tf32() == (True, True)
  finally:
    torch.set_num_threads(threads)
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


def test_the_scope_sets_the_encoders_numerics_inside_and_restores_them_after():
  threads, flags = torch.get_num_threads(), tf32()
  try:
    torch.set_num_threads(2)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    with numerics_scope(torch.device("cpu"), "fp32", 1):
      assert torch.get_num_threads() == 1 and tf32() == (True, True)  # TF32 is a CUDA matter
    assert torch.get_num_threads() == 2
    with numerics_scope(torch.device("cuda"), "fp32", None):  # the flags exist without a GPU
      assert tf32() == (False, False) and torch.get_num_threads() == 2
    assert tf32() == (True, True)
    with numerics_scope(torch.device("cuda"), "bf16", None):
      assert tf32() == (True, True)  # only fp32 turns TF32 off
  finally:
    torch.set_num_threads(threads)
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
