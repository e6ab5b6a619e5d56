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
    "conv2d_forward N=8 C=16 O=32 32x32, 3x3, pad 1, float32": {
        "cnnlab": lambda: _cnnlab_conv("conv2d_forward"),
        "cnnlab-gemm": lambda: _cnnlab_conv("conv2d_forward_gemm"),
        "numpy": lambda: _numpy_conv(),
        "torch": lambda: _torch_conv("forward"),
    },
    "conv2d_backward N=8 C=16 O=32 32x32, 3x3, pad 1, float32": {
        "cnnlab": lambda: _cnnlab_conv("conv2d_backward"),
        "torch": lambda: _torch_conv("backward"),
    },
    "maxpool2d forward+backward 8x32x64x64, 3x3 stride 2, float32": {
        "cnnlab": lambda: _cnnlab_pool(),
        "torch": lambda: _torch_pool(),
    },
}

CONV = dict(n=8, c=16, o=32, size=32, k=3)


def _conv_arrays():
    import numpy as np

    x, w = _conv_inputs(**CONV)
    x, w = x.astype(np.float32), w.astype(np.float32)
    b = np.zeros(CONV["o"], np.float32)
    return x, w, b


def _cnnlab_conv(name):
    from autograder.reference import load_reference

    conv = load_reference().conv
    x, w, b = _conv_arrays()
    if name == "conv2d_backward":
        dy = conv.conv2d_forward(x, w, b, padding=1)
        return lambda: conv.conv2d_backward(dy, x, w, padding=1)
    function = getattr(conv, name)
    return lambda: function(x, w, b, padding=1)


def _numpy_conv():
    import numpy as np

    x, w, b = _conv_arrays()

    def forward():
        xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = np.lib.stride_tricks.sliding_window_view(xpad, w.shape[2:], axis=(2, 3))
        return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b[:, None, None]

    return forward


def _torch_conv(direction):
    import torch

    x, w, b = (torch.from_numpy(a) for a in _conv_arrays())
    if direction == "forward":
        return lambda: torch.nn.functional.conv2d(x, w, b, padding=1)
    x.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    y = torch.nn.functional.conv2d(x, w, b, padding=1)
    dy = torch.ones_like(y)
    return lambda: torch.autograd.grad(y, (x, w, b), dy, retain_graph=True)


def _pool_input():
    import numpy as np

    return np.random.default_rng(0).standard_normal((8, 32, 64, 64)).astype(np.float32)


def _cnnlab_pool():
    from autograder.reference import load_reference

    pooling = load_reference().pooling
    x = _pool_input()

    def run():
        y = pooling.maxpool2d_forward(x, 3, 2)
        return pooling.maxpool2d_backward(y, x, 3, 2)

    return run


def _torch_pool():
    import torch

    x = torch.from_numpy(_pool_input()).requires_grad_(True)

    def run():
        y = torch.nn.functional.max_pool2d(x, 3, 2)
        return torch.autograd.grad(y, x, y.detach())

    return run


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
    print(f"{'case':<62} {'impl':<12} {'first call':>11} {'best':>10} {'vs cnnlab':>10}")
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
            print(f"{case:<62} {implementation:<12} {r['first_call'] * 1e3:9.1f}ms "
                  f"{r['best'] * 1e3:8.2f}ms {base / r['best']:9.2f}x")
    print("\n'vs cnnlab' > 1 means that implementation is faster than cnnlab's reference kernel.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        main(sys.argv[1:])
