"""No library shortcuts: forbidden calls found in the student's source, given code exempt."""

import shutil

import pytest

from autograder import grade
from autograder.build import build_package
from autograder.forbidden import violations

CONVOLUTION = ("scipy.signal", "scipy.ndimage", "numpy.convolve", "numpy.correlate",
               "numpy.lib.stride_tricks.sliding_window_view", "torch")
STUB = 'raise NotImplementedError("correlate2d is yours to write: cnnlab/edges.py")'


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "cnnlab"
    build_package(folder, stubbed_chapters=set())
    return folder


def cheat(finished, tmp_path, body, header=""):
    """The finished package with correlate2d's body replaced by `body` (and `header` on top)."""
    package = tmp_path / "cnnlab"
    shutil.copytree(finished, package)
    source = (package / "edges.py").read_text()
    start = source.index("def correlate2d(")
    doc_end = source.index('"""', source.index('"""', start) + 3) + 3
    end = source.index("\ndef ", doc_end)
    source = source[:doc_end] + "\n" + body + "\n\n" + source[end:]
    (package / "edges.py").write_text(header + source)
    return package


@pytest.mark.parametrize(("header", "body", "named"), [
    ("", "    import scipy.signal\n    return scipy.signal.correlate2d(image, kernel, mode)",
     "scipy.signal.correlate2d"),
    ("from scipy import signal as s\n", "    return s.correlate2d(image, kernel, mode)",
     "scipy.signal.correlate2d"),
    ("", "    import numpy as n\n    return n.lib.stride_tricks.sliding_window_view(image, 2)",
     "numpy.lib.stride_tricks.sliding_window_view"),
    ("", "    import torch\n    return torch.nn.functional.conv2d(image, kernel)", "torch"),
    ("", "    import importlib\n    return importlib.import_module('scipy.signal')",
     "scipy.signal"),
    ("", "    return _shortcut(image, kernel, mode)\n\n\ndef _shortcut(image, kernel, mode):\n"
         "    from scipy.signal import correlate2d as c\n    return c(image, kernel, mode)",
     "scipy.signal.correlate2d"),
])
def test_forbidden_calls_are_found_and_named(finished, tmp_path, header, body, named):
    package = cheat(finished, tmp_path, body, header)
    found = violations(package, ["edges.correlate2d"], CONVOLUTION)
    assert any(named in f and "edges.py line" in f for f in found), found


def test_an_edited_given_function_is_searched_too(finished, tmp_path):
    package = tmp_path / "cnnlab"
    shutil.copytree(finished, package)
    source = (package / "edges.py").read_text()
    source = source.replace("def _validate_pair(image, kernel, mode):\n",
                            "def _validate_pair(image, kernel, mode):\n    import torch\n")
    (package / "edges.py").write_text(source)
    assert "torch" in violations(package, ["edges.correlate2d"], CONVOLUTION)[0]


def test_honest_code_and_given_code_pass(finished):
    assert violations(finished, ["edges.correlate2d", "edges.convolve2d"], CONVOLUTION) == []


def test_a_shortcut_earns_zero_with_a_message_naming_the_call(finished, tmp_path):
    package = cheat(finished, tmp_path, "    import scipy.signal\n"
                    "    return scipy.signal.correlate2d(image, kernel, mode)")
    report = grade("ch01", package=package, exercises=["correlate2d", "convolve2d"],
                   public_only=True)
    assert report.points("correlate2d") == 0 and report.max_points("correlate2d") > 0
    # convolve2d, honest, calls this correlate2d, and in the worker's sandbox SciPy is absent:
    # it loses its points as on top of any unfinished correlate2d, but is no shortcut itself.
    others = [r.message for r in report.results if r.exercise == "convolve2d"]
    assert report.points("convolve2d") == 0 and others, others
    assert all("No module named 'scipy.signal'" in m and "library shortcut" not in m
               for m in others), others
    messages = [r.message for r in report.results if r.exercise == "correlate2d"]
    assert all(m.startswith("library shortcut: correlate2d is yours to write without it; "
                            "remove `") and "scipy.signal" in m and "edges.py line" in m
               for m in messages), messages


def test_a_suite_may_forbid_the_packages_own_functions(finished, tmp_path):
    """Chapter 4's form: only the forbidden names; the depthwise exercise may not hand its work
    to the general grouped convolution of chapter 2."""
    from autograder.forbidden import declarations

    package = tmp_path / "cnnlab"
    shutil.copytree(finished, package)
    source = (package / "depthwise.py").read_text()
    start = source.index("def depthwise_conv2d_forward(")
    body = source.index('"""', source.index('"""', start) + 3) + 3
    end = source.index("\ndef ", body)
    source = (source[:body] + "\n    from .conv import conv2d_forward\n"
              "    return conv2d_forward(x, w, b, stride, padding, dilation, groups=x.shape[1])\n\n"
              + source[end:])
    (package / "depthwise.py").write_text(source)
    declared = declarations({"depthwise_conv2d_forward": ("torch", "conv.conv2d_forward")}, package)
    functions, forbidden = declared["depthwise_conv2d_forward"]
    assert functions == ("depthwise.depthwise_conv2d_forward",)
    found = violations(package, functions, forbidden)
    assert any("cnnlab.conv.conv2d_forward" in f for f in found), found
    assert violations(finished, functions, forbidden) == []
