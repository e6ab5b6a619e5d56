"""Speed of the reference package against PyTorch CPU, as one table.

    python benchmarks/bench.py                  # every case, all cores, 3 rounds
    python benchmarks/bench.py conv 3x3         # cases whose name contains "conv" or "3x3"
    python benchmarks/bench.py --threads 1 --rounds 5
    python benchmarks/bench.py --reference /path/to/cnnlab   # another copy of the package

The whole table (20 cases, 3 rounds x 3 runs) takes about 1 minute with --threads 1 and 2
minutes on 2 threads on a 2-core machine (measured with a load average of 2-3 from other work;
a quiet machine is faster); --rounds and --repeats scale it.

Every implementation runs in its own Python process (Numba's, OpenBLAS's and PyTorch's thread pools
must not compete), and the processes alternate: round 1 runs cnnlab then torch, round 2 again, and
so on, so that a change in the machine's load hits both. Each process warms the memory allocator
(`_warm_allocator`) and every case up, then times it several times; the table shows the median over
all rounds. The thread counts are set in each process before anything runs:
`numba.set_num_threads(T)` for cnnlab's kernels (its `parallel_for` runs them on that many threads),
`threadpoolctl.threadpool_limits(T)` for the BLAS behind NumPy's `@` (cnnlab), and
`torch.set_num_threads(T)` (torch), with T = --threads (default: every core). cnnlab's convolutions
run their matrix products on the T threads of `parallel_for` too, each in BLAS held to one thread
(`cnnlab._fast`), so at most T threads compute at any time. On a machine shared with other work,
wall-clock ratios move with the load; `--threads 1 --cpu` compares CPU seconds of one thread,
which the load hardly changes.

GFLOP/s of a convolution count forward + backward as 3x the forward's 2 * N * O * OH * OW *
(C / groups) * KH * KW; pooling counts one operation per window element and pass (forward, then
backward). "vs torch" is torch's time over cnnlab's: > 1 means cnnlab is faster.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _conv(n, c, o, size, k, stride=1, groups=1, target=0.5):
    padding = k // 2
    out = (size + 2 * padding - k) // stride + 1
    name = f"conv {k}x{k}/{stride} N={n} {c}->{o} {size}x{size}" + (
        f" groups={groups}" if groups > 1 else "")
    flops = 3 * 2 * n * o * out * out * (c // groups) * k * k
    return name, dict(kind="conv", n=n, c=c, o=o, size=size, k=k, stride=stride,
                      padding=padding, groups=groups), flops, target


def _depthwise(n, c, size, target=1.5):
    name = f"depthwise 3x3/1 N={n} C={c} {size}x{size}"
    flops = 3 * 2 * n * c * size * size * 9
    return name, dict(kind="depthwise", n=n, c=c, size=size), flops, target


def _pool(kind, n, c, size, k, stride, target=0.7):
    name = f"{kind}pool {k}x{k}/{stride} N={n} C={c} {size}x{size}"
    out = (size - k) // stride + 1
    return name, dict(kind=kind, n=n, c=c, size=size, k=k, stride=stride), \
        2 * n * c * out * out * k * k, target


# (name, parameters, operations of forward + backward, target ratio vs torch)
CASES = [
    # The four layers of issue 12.
    _conv(32, 16, 16, 32, 3),
    _conv(32, 64, 64, 16, 3),
    _conv(16, 128, 128, 8, 3),
    _conv(128, 64, 64, 8, 3),
    # ResNet-18 on CIFAR-10 (32x32 inputs), a batch of 32: the stem, each stage's 3x3 layers and
    # its stride-2 entry with the 1x1 shortcut.
    _conv(32, 3, 64, 32, 3),
    _conv(32, 64, 64, 32, 3),
    _conv(32, 64, 128, 32, 3, stride=2),
    _conv(32, 64, 128, 32, 1, stride=2),
    _conv(32, 128, 128, 16, 3),
    _conv(32, 128, 256, 16, 3, stride=2),
    _conv(32, 128, 256, 16, 1, stride=2),
    _conv(32, 256, 256, 8, 3),
    _conv(32, 256, 512, 8, 3, stride=2),
    _conv(32, 256, 512, 8, 1, stride=2),
    _conv(32, 512, 512, 4, 3),
    # MobileNet-sized depthwise layers (only if the package has chapter 4's cnnlab.depthwise).
    _depthwise(32, 64, 32),
    _depthwise(32, 128, 16),
    # Pooling.
    _pool("max", 32, 64, 32, 2, 2),
    _pool("max", 8, 32, 64, 3, 2),
    _pool("avg", 32, 64, 32, 2, 2),
]


def _inputs(p, dtype):
    import numpy as np

    rng = np.random.default_rng(0)
    if p["kind"] == "conv":
        x = rng.standard_normal((p["n"], p["c"], p["size"], p["size"]))
        w = rng.standard_normal((p["o"], p["c"] // p["groups"], p["k"], p["k"])) * 0.1
        b = rng.standard_normal(p["o"])
        return [a.astype(dtype) for a in (x, w, b)]
    if p["kind"] == "depthwise":
        x = rng.standard_normal((p["n"], p["c"], p["size"], p["size"]))
        w = rng.standard_normal((p["c"], 1, 3, 3))
        b = rng.standard_normal(p["c"])
        return [a.astype(dtype) for a in (x, w, b)]
    return [rng.standard_normal((p["n"], p["c"], p["size"], p["size"])).astype(dtype)]


def _cnnlab_step(ref, p):
    """A zero-argument function running forward + backward with the reference package, or None
    when the package does not have the case's functions."""
    import numpy as np

    arrays = _inputs(p, np.float32)
    if p["kind"] == "conv":
        conv, (x, w, b) = ref.conv, arrays
        hyper = dict(stride=p["stride"], padding=p["padding"])
        if p["groups"] > 1 and not hasattr(conv, "conv2d_backward_gemm"):
            return None
        backward = getattr(conv, "conv2d_backward_gemm", None) or conv.conv2d_backward
        if p["groups"] > 1:
            hyper["groups"] = p["groups"]

        def step():
            y = conv.conv2d_forward_gemm(x, w, b, **hyper)
            return backward(y, x, w, **hyper)

        return step
    if p["kind"] == "depthwise":
        if not (Path(ref.__file__).parent / "depthwise.py").exists():
            return None
        import importlib

        depthwise = importlib.import_module(f"{ref.__name__}.depthwise")
        x, w, b = arrays

        def step():
            y = depthwise.depthwise_conv2d_forward(x, w, b, padding=1)
            return depthwise.depthwise_conv2d_backward(y, x, w, padding=1)

        return step
    pooling, (x,) = ref.pooling, arrays
    forward = getattr(pooling, f"{p['kind']}pool2d_forward")
    backward = getattr(pooling, f"{p['kind']}pool2d_backward")

    def step():
        y = forward(x, p["k"], p["stride"])
        return backward(y, x, p["k"], p["stride"])

    return step


def _torch_step(p):
    import numpy as np
    import torch

    F = torch.nn.functional
    tensors = [torch.from_numpy(a).requires_grad_(True) for a in _inputs(p, np.float32)]
    if p["kind"] == "conv":
        hyper = dict(stride=p["stride"], padding=p["padding"], groups=p["groups"])
        forward = lambda x, w, b: F.conv2d(x, w, b, **hyper)  # noqa: E731
    elif p["kind"] == "depthwise":
        forward = lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=p["c"])  # noqa: E731
    else:
        pool = F.max_pool2d if p["kind"] == "max" else F.avg_pool2d
        forward = lambda x: pool(x, p["k"], p["stride"])  # noqa: E731

    def step():
        y = forward(*tensors)
        return torch.autograd.grad(y, tensors, y.detach())

    return step


def _warm_allocator():
    """Allocate and free one 30 MB block. glibc's malloc hands out large arrays as fresh memory
    pages (each first touch a page fault) until a large block has been freed; then it keeps
    blocks up to that size (its dynamic mmap threshold, at most 32 MB) for reuse. A process that
    has run a while, like a training loop, is in that state; without this, the first cases of a
    process would pay page faults on every new array (measured: 24 instead of 19 ms for the first
    layer of the table), and which cases ran before would change their times."""
    import numpy as np

    block = np.empty(30 << 20, np.uint8)
    del block


def measure(implementation, names, threads, repeats, reference):
    """In a child process: (wall-clock, CPU) seconds of `repeats` runs of every case in `names`."""
    _warm_allocator()
    if implementation == "torch":
        import torch

        torch.set_num_threads(threads)
        make = _torch_step
    else:
        import numba
        from threadpoolctl import threadpool_limits

        from autograder.reference import REFERENCE_NAME, load_package, load_reference

        numba.set_num_threads(threads)
        threadpool_limits(threads)
        # The name matters: Numba's cache of a package only loads under the name it was made with.
        ref = load_package(reference, REFERENCE_NAME) if reference else load_reference()
        make = lambda p: _cnnlab_step(ref, p)  # noqa: E731
    times = {}
    for name, params, _, _ in CASES:
        if name not in names:
            continue
        step = make(params)
        if step is None:
            continue
        step()  # compiles (or loads the cache)
        step()
        runs = []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            step()
            runs.append((time.perf_counter() - start, time.process_time() - cpu))
        times[name] = runs
    return times


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The whole table takes about 1 minute with --threads 1 and 2 minutes on 2 threads "
               "(2-core machine, under load); --rounds and --repeats scale it.")
    parser.add_argument("filters", nargs="*", help="run the cases whose name contains one")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case and round")
    parser.add_argument("--reference", default="", help="folder of the cnnlab package to time")
    parser.add_argument("--cpu", action="store_true",
                        help="compare CPU seconds of the process instead of wall-clock seconds: "
                             "with --threads 1, a measure that a busy machine hardly changes")
    args = parser.parse_args()
    names = [c[0] for c in CASES if not args.filters or any(f in c[0] for f in args.filters)]
    times = {"cnnlab": {}, "torch": {}}
    for _ in range(args.rounds):
        for implementation in times:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", implementation, json.dumps(names),
                 str(args.threads), str(args.repeats), args.reference],
                capture_output=True, text=True, check=True,
            )
            for name, runs in json.loads(out.stdout.strip().splitlines()[-1]).items():
                times[implementation].setdefault(name, []).extend(r[args.cpu] for r in runs)
    clock = "CPU" if args.cpu else "wall-clock"
    print(f"{args.threads} threads, {clock} time, medians of {args.rounds} rounds x "
          f"{args.repeats} runs, float32, forward + backward\n")
    print("| case | torch ms | torch GFLOP/s | cnnlab ms | cnnlab GFLOP/s | vs torch | target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, _, flops, target in CASES:
        if name not in names or name not in times["cnnlab"]:
            continue
        t_torch = statistics.median(times["torch"][name])
        t_ours = statistics.median(times["cnnlab"][name])
        ratio = t_torch / t_ours
        print(f"| {name} | {t_torch * 1e3:.2f} | {flops / t_torch / 1e9:.1f} | "
              f"{t_ours * 1e3:.2f} | {flops / t_ours / 1e9:.1f} | {ratio:.2f} | "
              f"{'✓' if ratio >= target else '✗'} ≥ {target} |")
    skipped = [n for n in names if n not in times["cnnlab"]]
    if skipped:
        print(f"\nnot in this package (skipped): {', '.join(skipped)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        implementation, names, threads, repeats, reference = sys.argv[2:7]
        result = measure(implementation, json.loads(names), int(threads), int(repeats),
                         reference)
        print(json.dumps(result))
    else:
        main()
