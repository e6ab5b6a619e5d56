"""Numba's on-disk cache never serves one import name's compiled code to another.

The graders import the reference folder as `cnnlab_reference`; instructors' notebooks, benchmarks
and scripts import the same folder as `cnnlab`. Each order of use runs in fresh processes on a
fresh copy of the reference, calling every cached kernel of every module.
"""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from autograder.processes import tool_env
from autograder.reference import REFERENCE_NAME, REPO

# Run in a fresh interpreter: import the copy under `name`, call every public function that has a
# kernel, and check that each cached kernel of each module was used.
CALLS = textwrap.dedent('''
    import json, sys
    import numpy as np
    from numba.core.dispatcher import Dispatcher

    folder, name = sys.argv[1], sys.argv[2]
    if name == "cnnlab":
        sys.path.insert(0, str(__import__("pathlib").Path(folder).parent))
        import cnnlab as pkg
    else:
        from autograder.reference import load_package
        pkg = load_package(folder, name)

    rng = np.random.default_rng(0)
    img, k = rng.standard_normal((7, 6)), rng.standard_normal((3, 2))
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    wd = rng.standard_normal((6, 1, 3, 3))  # depthwise, channel multiplier 2
    dy, dp = rng.standard_normal((2, 4, 4, 4)), rng.standard_normal((2, 3, 3, 3))
    results = [
        pkg.edges.correlate2d(img, k), pkg.edges.correlate2d(img, k, "same"),
        pkg.edges.convolve2d(img, k, "full"), pkg.edges.gradient_magnitude(img),
        pkg.edges.correlate2d_separable(img, k[:, 0], k[0]),
        pkg.conv.conv2d_forward(x, w, b), pkg.conv.conv2d_forward_gemm(x, w, b),
        pkg.conv.col2im(pkg.conv.im2col(x, 3), (6, 6), 3), *pkg.conv.conv2d_backward(dy, x, w),
        pkg.pooling.maxpool2d_forward(x, 2), pkg.pooling.maxpool2d_backward(dp, x, 2),
        pkg.pooling.avgpool2d_forward(x, 2), pkg.pooling.avgpool2d_backward(dp, x, 2),
        *pkg.conv.conv2d_backward_gemm(dy, x, w),
        pkg.depthwise.depthwise_conv2d_forward(x, wd), *pkg.depthwise.depthwise_conv2d_backward(
            rng.standard_normal((2, 6, 4, 4)), x, wd),
    ]
    unused = [
        f"{module}.{attr}" for module in pkg.__all__
        for attr, value in vars(getattr(pkg, module)).items()
        if isinstance(value, Dispatcher) and not value.signatures
    ]
    print(json.dumps({"sums": [float(np.sum(r)) for r in results], "unused": unused}))
''')


def run(folder, name):
    done = subprocess.run([sys.executable, "-c", CALLS, str(folder), name], cwd=REPO,
                          capture_output=True, text=True, env=tool_env(PYTHONPATH=str(REPO)))
    assert done.returncode == 0, f"import as {name} failed:\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["unused"], f"kernels this test does not call: {result['unused']}"
    return result["sums"]


@pytest.mark.parametrize("order", [("cnnlab_reference", "cnnlab"), ("cnnlab", "cnnlab_reference")],
                         ids=["grade then import", "import then grade"])
def test_cache_is_kept_apart_per_import_name(order, tmp_path):
    assert REFERENCE_NAME in order
    folder = tmp_path / "cnnlab"
    shutil.copytree(REPO / "solutions" / "cnnlab", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    first = run(folder, order[0])
    second = run(folder, order[1])  # loads the first one's cache if it were shared
    assert second == first
    assert run(folder, order[0]) == first  # both caches in place: each name still works
    cached = {p.name for p in (folder / "__pycache__").glob("*.nbi")}
    assert any(f"-as-{REFERENCE_NAME}." in n for n in cached)
    assert any("-as-" not in n for n in cached)
