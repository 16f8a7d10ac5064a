"""The timing helper the benchmark scripts share."""
import statistics
import time


def median_seconds(function, repeats, sync=lambda: None):
  """Median wall time of `repeats` calls; `sync` waits for queued device work (torch.cuda.synchronize)."""
  times = []
  for _ in range(repeats):
    sync()
    start = time.perf_counter()
    function()
    sync()
    times.append(time.perf_counter() - start)
  return statistics.median(times)
