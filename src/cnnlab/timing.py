"""Timing the notebooks' races (given code, not an exercise).

A race is only fair and stable when every contender gets the same cores and nothing else runs:
cnnlab's kernels run on `numba.get_num_threads()` threads (`_parallel.parallel_for`), NumPy's
matrix products on their BLAS library's own threads, and two such pools on one machine compete
for its cores. `race` therefore sets both counts to the same number for the whole race (one core
each by default), runs every contender once untimed (Numba compiles, caches warm up) and reports
the median of several timed runs, which one disturbed run does not move.
"""

import time
from contextlib import contextmanager

import numba
import numpy as np


@contextmanager
def thread_limits(threads):
    """Inside the block, Numba's kernels (through `parallel_for`) and NumPy's BLAS each use
    `threads` threads; the previous counts come back afterwards.

    Inputs:
    - threads: int >= 1, at most `numba.config.NUMBA_NUM_THREADS` (the number of cores).
    """
    from threadpoolctl import threadpool_limits  # a dependency of cnnlab

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        numba.set_num_threads(before)


def median_time(function, repeat=7):
    """The median of `repeat` timed calls of function(), in seconds, after one untimed call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def race(functions, threads=1, repeat=7):
    """Time every contender of a race under the same thread counts.

    Inputs:
    - functions: dict {label: function()} of the contenders.
    - threads: int >= 1, the threads each contender may use, for Numba and for BLAS alike
      (`thread_limits`); 1 compares the algorithms on one core.
    - repeat: int >= 1, timed runs per contender (after one untimed warm-up run).

    Returns a dict {label: median seconds}, in the order of `functions`.
    """
    with thread_limits(threads):
        return {label: median_time(function, repeat) for label, function in functions.items()}
