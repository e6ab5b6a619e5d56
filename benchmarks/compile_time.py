"""Numba compile time of each chapter's kernels: cold (empty cache) and warm (cache hit).

    python benchmarks/compile_time.py

Compile time counts against nbgrader's cell timeout and a learner's patience. Each measurement
runs in a fresh process with its own NUMBA_CACHE_DIR, calling every kernel of a chapter once in
float32 and once in float64 (tiny inputs, so the time is compilation, not computation).
"""

import json
import os
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
                      "pooling.maxpool2d_backward(pooling.maxpool2d_forward(x, 2), x, 2)",
                      "pooling.avgpool2d_backward(pooling.avgpool2d_forward(x, 2), x, 2)",
                      "pooling.global_avgpool2d_backward(pooling.global_avgpool2d_forward(x), x)"],
}


def child(chapter):
    sys.path.insert(0, str(REPO))
    import numpy as np

    from autograder.reference import load_reference

    ref = load_reference()
    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        namespace = {
            "edges": ref.edges, "conv": ref.conv, "pooling": ref.pooling,
            "img": np.ones((6, 5), dtype), "k": np.ones((3, 2), dtype),
            "x": np.ones((1, 2, 5, 5), dtype), "w": np.ones((3, 2, 2, 2), dtype),
            "b": np.ones(3, dtype),
        }
        for call in CALLS[chapter]:
            eval(call, namespace)
    return time.perf_counter() - start


def main():
    print(f"{'chapter':<18} {'cold (s)':>9} {'warm (s)':>9}")
    for chapter in CALLS:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            times = [
                json.loads(subprocess.run([sys.executable, __file__, chapter], env=env,
                                          capture_output=True, text=True, check=True).stdout)
                for _ in range(2)
            ]
        print(f"{chapter:<18} {times[0]:9.2f} {times[1]:9.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(child(sys.argv[1])))
    else:
        main()
