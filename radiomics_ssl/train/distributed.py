"""Data-parallel training under `torchrun`: the process group, BatchNorm over the global batch,
and gathers. One process (no WORLD_SIZE, or WORLD_SIZE=1) leaves everything untouched.

Every rank draws the same global batch (the schedule's generator is seeded identically), trains
on its contiguous share, and DistributedDataParallel averages the gradients. BatchNorm statistics
are all-reduced (torch's SyncBatchNorm refuses CPU tensors, so gloo needs this), which makes a
run with W processes compute what one process computes on the same global batch.
"""
import os

import torch
import torch.distributed as dist
from torch import nn

from radiomics_ssl.inference import resolve_device


def world_size():
  return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank():
  return dist.get_rank() if world_size() > 1 else 0


def init_from_env(device_name):
  """Join the torchrun process group if there is one (idempotent) -> this process's torch.device:
  NCCL and one GPU per local rank on CUDA, gloo on CPU."""
  device = resolve_device(device_name)
  if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
    return device
  if device.type == "cuda":
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
  if not dist.is_initialized():
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
  return device


def finish():
  if world_size() > 1:
    dist.barrier()  # every rank reaches teardown before any process group is destroyed
    dist.destroy_process_group()


def agree(ok):
  """A collective in place of a barrier: True on every rank only if `ok` is True on every rank,
  so that one process's failure stops the others instead of leaving them waiting."""
  if world_size() == 1:
    return ok
  device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
  flag = torch.tensor([1 if ok else 0], device=device)
  dist.all_reduce(flag, op=dist.ReduceOp.MIN)
  return bool(flag.item())


def _bounds(count):
  size = world_size()
  return [count * r // size for r in range(size + 1)]


def shard(count):
  """This rank's contiguous slice of a global batch of `count` samples (sizes may differ by one)."""
  bounds = _bounds(count)
  return slice(bounds[rank()], bounds[rank() + 1])


def gather_rows(tensor, count):
  """Concatenate every rank's share (see `shard`) of a global batch of `count` rows, in rank order
  (no gradient). Shares are padded to equal size for all_gather, which needs equal shapes."""
  if world_size() == 1:
    return tensor
  bounds = _bounds(count)
  sizes = [high - low for low, high in zip(bounds, bounds[1:])]
  padded = torch.zeros((max(sizes),) + tuple(tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
  padded[:len(tensor)] = tensor
  parts = [torch.empty_like(padded) for _ in sizes]
  dist.all_gather(parts, padded)
  return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def sum_all(tensor):
  """Sum over ranks, keeping the gradient (torch.distributed.nn's differentiable all-reduce)."""
  if world_size() == 1:
    return tensor
  import warnings

  from torch.distributed.nn.functional import all_reduce

  with warnings.catch_warnings():  # deprecated in favour of a private API that has no autograd yet
    warnings.simplefilter("ignore", FutureWarning)
    return all_reduce(tensor)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
  """BatchNorm whose training statistics cover the global batch of all ranks."""

  def _check_input_dim(self, x):
    if x.dim() < 2:
      raise ValueError(f"expected at least 2D input, got {x.dim()}D")

  def forward(self, x):
    if not self.training or world_size() == 1:
      return super().forward(x)
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = sum_all(torch.tensor(float(x.numel() // x.shape[1]), device=x.device))
    mean = sum_all(x.sum(dims)) / count
    centred = x - mean.view(shape)  # two passes: E[x^2] - E[x]^2 loses ~1e-4 to cancellation here
    var = sum_all((centred * centred).sum(dims)) / count
    y = centred * torch.rsqrt(var.view(shape) + self.eps)
    if self.affine:
      y = y * self.weight.view(shape) + self.bias.view(shape)
    if self.track_running_stats:
      with torch.no_grad():
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean.detach(), momentum)
        self.running_var.lerp_(var.detach() * count / (count - 1), momentum)
    return y


def globalise_batchnorm(module):
  """Replace every BatchNorm layer of `module` by a GlobalBatchNorm with the same state."""
  for name, child in module.named_children():
    if isinstance(child, nn.modules.batchnorm._BatchNorm):
      replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
      replacement.load_state_dict(child.state_dict())
      setattr(module, name, replacement.to(next(child.buffers(), torch.empty(0)).device))
    else:
      globalise_batchnorm(child)
  return module
