"""Numba compile time of each chapter's kernels: cold (empty cache) and cached.

    python benchmarks/compile_time.py

Compile time counts against nbgrader's cell timeout and a learner's patience. Each chapter runs
twice in fresh processes on one fresh copy of the reference package (in a temporary folder, with
its own empty NUMBA_CACHE_DIR): the first compiles everything (cold), the second loads it from the
cache. (A copy, because the grader's import of the reference keeps its Numba cache next to the
sources, in solutions/cnnlab/__pycache__, whatever NUMBA_CACHE_DIR says: timing the package in
place would load what an earlier run left there.) Each process calls every public function of
the chapter once with tiny float32 inputs, then once with float64 ones (so the time is
compilation, not computation). Times are CPU seconds of the process (compilation is
single-threaded, so they do not grow with the machine's load; wall-clock seconds are in
brackets). "slowest first call" is
the slowest single call of the cached run: what a learner waits for at most per call once the
cache is warm (it includes importing the module and loading its kernels).
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CALLS = {
    "ch01_edges": ["edges.correlate2d(img, k, 'same')", "edges.convolve2d(img, k, 'same')",
                   "edges.gradient_magnitude(img)"],
    "ch02_arithmetic": ["conv.conv2d_forward(x, w, b)", "conv.im2col(x, 2)",
                        "conv.col2im(conv.im2col(x, 2), (5, 5), 2)",
                        "conv.conv2d_forward_gemm(x, w, b)"],
    "ch03_backprop": ["conv.conv2d_backward(conv.conv2d_forward(x, w), x, w)",
                      "conv.conv2d_backward_gemm(conv.conv2d_forward(x, w), x, w)",
                      "pooling.maxpool2d_backward(pooling.maxpool2d_forward(x, 2), x, 2)",
                      "pooling.avgpool2d_backward(pooling.avgpool2d_forward(x, 2), x, 2)",
                      "pooling.global_avgpool2d_backward(pooling.global_avgpool2d_forward(x), x)"],
    "ch04_depthwise": [
        "depthwise.depthwise_conv2d_backward(depthwise.depthwise_conv2d_forward(x, wd, padding=1),"
        " x, wd, padding=1)",
        "depthwise.pointwise_conv2d_backward(depthwise.pointwise_conv2d_forward(x, w1), x, w1)",
        "conv.conv2d_backward(conv.conv2d_forward(x, wg, groups=2), x, wg, groups=2)"],
    # The reference's depthwise fast path (3x3, stride 1, >= 4096 output pixels): compiled the
    # first time a learner runs a layer that large, never by the chapter's small calls above.
    "ch04 fast path": [
        "depthwise.depthwise_conv2d_backward(depthwise.depthwise_conv2d_forward(xl, wl, "
        "padding=1), xl, wl, padding=1)"],
}


def child(chapter):
    """Time every call of `chapter`, float32 then float64: [(dtype, call, cpu s, wall s)]."""
    sys.path.insert(0, str(REPO))
    import numpy as np

    from autograder.reference import load_reference

    ref = load_reference()  # CNNLAB_REFERENCE: the fresh copy main() made
    depthwise = importlib.import_module(f"{ref.__name__}.depthwise")  # imported before timing
    times = []
    for dtype in (np.float32, np.float64):
        namespace = {
            "edges": ref.edges, "conv": ref.conv, "pooling": ref.pooling, "depthwise": depthwise,
            "img": np.ones((6, 5), dtype), "k": np.ones((3, 2), dtype),
            "x": np.ones((1, 2, 5, 5), dtype), "w": np.ones((3, 2, 2, 2), dtype),
            "b": np.ones(3, dtype), "wd": np.ones((4, 1, 3, 3), dtype),
            "wg": np.ones((2, 1, 2, 2), dtype), "w1": np.ones((3, 2), dtype),
            "xl": np.ones((1, 1, 64, 64), dtype), "wl": np.ones((1, 1, 3, 3), dtype),
        }
        for call in CALLS[chapter]:
            if not hasattr(namespace[call.split(".")[0]], call.split(".")[1].split("(")[0]):
                continue  # an older copy of the package (--reference) without this function
            wall, cpu = time.perf_counter(), time.process_time()
            eval(call, namespace)
            times.append((dtype.__name__, call, time.process_time() - cpu,
                          time.perf_counter() - wall))
    return times


def main():
    sys.path.insert(0, str(REPO))
    from autograder.reference import reference_dir

    print("CPU seconds [wall-clock seconds]\n")
    print("| chapter | cold float32 | cold + float64 | cold total | cached total "
          "| slowest first call (cached) |")
    print("|---|---:|---:|---:|---:|---|")
    for chapter in CALLS:
        with tempfile.TemporaryDirectory() as tmp:
            package = Path(tmp) / "cnnlab"
            shutil.copytree(reference_dir(), package,
                            ignore=shutil.ignore_patterns("__pycache__"))
            env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "numba"),
                       CNNLAB_REFERENCE=str(package))
            cold, cached = (
                json.loads(subprocess.run([sys.executable, __file__, chapter], env=env,
                                          capture_output=True, text=True, check=True).stdout)
                for _ in range(2)
            )

        def total(rows, dtype=None):
            cpu = sum(r[2] for r in rows if dtype in (None, r[0]))
            wall = sum(r[3] for r in rows if dtype in (None, r[0]))
            return f"{cpu:.2f} [{wall:.2f}]"

        slowest = max(cached, key=lambda r: r[2])
        print(f"| {chapter} | {total(cold, 'float32')} | {total(cold, 'float64')} | "
              f"{total(cold)} | {total(cached)} | {slowest[2]:.2f} [{slowest[3]:.2f}] "
              f"`{slowest[1]}` {slowest[0]} |")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(child(sys.argv[1])))
    else:
        main()
