"""Running a Numba kernel on every core (given code, not an exercise).

A kernel compiled with `@njit(nogil=True)` releases Python's global interpreter lock while it
runs, so several Python threads can run it at once. `parallel_for(count, body)` cuts
range(count) into one contiguous chunk per thread and runs body(start, stop) on each chunk at the
same time; the public functions pass a body that runs a kernel on images (or channel planes, or
filters) start ... stop - 1. Each output element is computed by one thread, in the same order
whatever the number of threads, so results do not depend on it. `parallel_for(count, body,
chunks=k)` cuts it into k chunks whatever the number of threads (for results that are sums of
per-chunk parts, and for chunks small enough to stay in the processor's cache). A
`parallel_for` called from inside a body runs its chunks one after the other on that thread (the
threads are busy with the outer one already).

Why not Numba's `parallel=True` and `prange`: they compile about twice as slowly, for every kernel
and every dtype, and compile time counts against the learner (and nbgrader's timeout); and the
kernels the learner writes stay plain loops, unaware of threads.

Thread counts. cnnlab uses as many threads as Numba would (`numba.get_num_threads()`: every core,
or NUMBA_NUM_THREADS, or what `numba.set_num_threads(n)` set). The convolutions' matrix products
run on these threads too, each on one thread of BLAS (`_fast.run_chunks`), so BLAS's own thread
pool (`threadpoolctl.threadpool_limits(n)` sets it, for NumPy's products elsewhere) never competes
with them.

`to_channels_last` and `to_channels_first` are the layout changes between NCHW and the
channels-last (N, H, W, C) layout of the matrix-product paths, as parallel copies (NumPy's copies
release the GIL too).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

_pool, _pool_size = None, 0  # the worker threads, started on first use
_inside = threading.local()  # _inside.body: this thread is running a body of parallel_for


def parallel_for(count, body, chunks=None):
    """Run body(start, stop) over contiguous chunks of range(count), the chunks in parallel.

    Inputs:
    - count: int >= 0, the number of independent items (images, planes, filters).
    - body: function (start, stop) -> result, processing items start ... stop - 1; the chunks
      must write disjoint outputs.
    - chunks: None for one chunk per thread; or an int >= 1, the number of chunks whatever the
      number of threads (at most count). A fixed number of chunks makes results that are sums of
      per-chunk parts (the depthwise dw) independent of the thread count, and small chunks keep
      their data in the processor's cache.

    Returns the list of body's results, in the order of the chunks. Uses min(chunks,
    numba.get_num_threads()) threads, the calling one included, each on consecutive chunks (one
    thread, the calling one, when called from a body of another parallel_for). An exception of
    any chunk is raised once every chunk has finished.
    """
    global _pool, _pool_size
    threads = 1 if getattr(_inside, "body", False) else numba.get_num_threads()
    chunks = threads if chunks is None else chunks
    chunks = max(1, min(count, chunks))
    bounds = [count * t // chunks for t in range(chunks + 1)]
    threads = min(chunks, threads)
    # Thread t runs chunks first[t] ... first[t + 1] - 1, one after the other.
    first = [chunks * t // threads for t in range(threads + 1)]

    def run(t):
        outer, _inside.body = getattr(_inside, "body", False), True
        try:
            return [body(bounds[k], bounds[k + 1]) for k in range(first[t], first[t + 1])]
        finally:
            _inside.body = outer

    if threads <= 1:
        return run(0)
    if _pool_size < threads - 1:
        _pool_size = threads - 1
        _pool = ThreadPoolExecutor(_pool_size, thread_name_prefix="cnnlab")
    futures = [_pool.submit(run, t) for t in range(1, threads)]
    try:
        results = run(0)
    finally:
        for future in futures:
            future.exception()  # wait: no chunk may still write when we return or raise
    for future in futures:
        results += future.result()
    return results


def _channel_tile(plane_bytes, channels):
    """How many channels `to_channels_last` copies at a time. Reading 64 channels of one pixel
    from planes 4 KB apart maps them all to the same few cache sets (measured: a (32, 64, 32, 32)
    float32 copy took 8.1 ms in one piece, 3.8 ms by 8 channels, on one thread); tiles of 8
    channels avoid that, 16 for smaller planes."""
    if plane_bytes >= 4096:
        return 8
    return 16 if plane_bytes >= 1024 else channels


def to_channels_last(src, dst):
    """dst[n, y, x, c] = src[n, c, y, x]: src (N, C, H, W), dst (N, H, W, C), any strides (for
    example the inside of a padded array). The images in parallel (`parallel_for`)."""
    n, c, h, w = src.shape
    step = _channel_tile(h * w * src.itemsize, c)

    def copy(start, stop):
        for k in range(0, c, step):
            dst[start:stop, :, :, k : k + step] = src[start:stop, k : k + step].transpose(
                0, 2, 3, 1)

    parallel_for(n, copy)
    return dst


def to_channels_first(src, dst, b=None):
    """dst[n, c, y, x] = src[n, y, x, c] (+ b[c] if b (C,) is given): src (N, H, W, C) and dst
    (N, C, H, W), any strides. The images in parallel (`parallel_for`)."""

    def copy(start, stop):
        part = src[start:stop].transpose(0, 3, 1, 2)
        if b is None:
            dst[start:stop] = part
        else:
            np.add(part, b[:, None, None], out=dst[start:stop])

    parallel_for(src.shape[0], copy)
    return dst
