"""Speed of the reference kernels against NumPy/SciPy and PyTorch CPU, measured in one run.

    python benchmarks/bench.py              # every case
    python benchmarks/bench.py correlate2d  # cases whose name contains "correlate2d"

Every (case, implementation) runs in its own Python process: Numba's and PyTorch's thread pools
interfere when they share one. Each process reports its first call (which includes Numba's
compilation or a cache load) and the best of several timed repeats; the table prints the ratios
against cnnlab in the same run. Numbers depend on the machine: compare ratios, not seconds.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _edges_inputs(size, k):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((size, size)), rng.standard_normal((k, k))


def _conv_inputs(n, c, o, size, k):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((n, c, size, size)), rng.standard_normal((o, c, k, k))


# case name -> {implementation: function(setup args) returning a zero-argument callable}
CASES = {
    "correlate2d 512x512 image, 3x3 kernel, same": {
        "cnnlab": lambda: _cnnlab_edges(512, 3),
        "scipy": lambda: _scipy_edges(512, 3),
        "torch": lambda: _torch_edges(512, 3),
    },
    "correlate2d 256x256 image, 11x11 kernel, valid": {
        "cnnlab": lambda: _cnnlab_edges(256, 11, "valid"),
        "scipy": lambda: _scipy_edges(256, 11, "valid"),
        "torch": lambda: _torch_edges(256, 11, "valid"),
    },
}


def _cnnlab_edges(size, k, mode="same"):
    from autograder.reference import load_reference

    edges = load_reference().edges
    image, kernel = _edges_inputs(size, k)
    return lambda: edges.correlate2d(image, kernel, mode)


def _scipy_edges(size, k, mode="same"):
    import scipy.signal

    image, kernel = _edges_inputs(size, k)
    return lambda: scipy.signal.correlate2d(image, kernel, mode)


def _torch_edges(size, k, mode="same"):
    import torch

    image, kernel = (torch.from_numpy(a)[None, None] for a in _edges_inputs(size, k))
    if mode == "same":  # odd kernels only: symmetric padding equals SciPy's "same"
        return lambda: torch.nn.functional.conv2d(image, kernel, padding=k // 2)
    return lambda: torch.nn.functional.conv2d(image, kernel)


def measure(case, implementation, repeats=7):
    """Run in a child process: time one implementation of one case."""
    make = CASES[case][implementation]
    start = time.perf_counter()
    run = make()
    run()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return {"first_call": first, "best": best}


def main(filters):
    cases = [c for c in CASES if not filters or any(f in c for f in filters)]
    print(f"{'case':<50} {'impl':<8} {'first call':>11} {'best':>10} {'vs cnnlab':>10}")
    for case in cases:
        results = {}
        for implementation in CASES[case]:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", case, implementation],
                capture_output=True, text=True, check=True,
            )
            results[implementation] = json.loads(out.stdout.strip().splitlines()[-1])
        base = results["cnnlab"]["best"]
        for implementation, r in results.items():
            print(f"{case:<50} {implementation:<8} {r['first_call'] * 1e3:9.1f}ms "
                  f"{r['best'] * 1e3:8.2f}ms {base / r['best']:9.2f}x")
    print("\n'vs cnnlab' > 1 means that implementation is faster than cnnlab's reference kernel.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        main(sys.argv[1:])
