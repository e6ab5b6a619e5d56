"""Feedback a learner can read: known mistakes named, Numba errors trimmed and shown once, one
"not started" line per exercise, --no-jit, the check cell's picture."""

import shutil
import sys

import matplotlib
import numpy as np
import pytest

from autograder import grade
from autograder.build import build_package
from autograder.engine import Report, TestResult, show_pictures
from autograder.feedback import trim_numba_error
from autograder.mistakes import Call, Mistakes, encode_call
from autograder.reference import REPO, load_reference

# What a worker reported for a Numba typing error in the learner's _correlate2d_valid (abridged
# from a real run: the candidate list is ~20 lines longer).
TYPING_ERROR = """\
numba.core.errors.TypingError: Failed in nopython mode pipeline (step: nopython frontend)
No implementation of function Function(<built-in function add>) found for signature:
{blank}
 >>> add(float64, Literal[str](x))
{blank}
There are 20 candidate implementations:
 - Of which 18 did not match due to:
 Overload of function 'add': File: <numerous>: Line N/A.
   With argument(s): '(float64, unicode_type)':
  No match.

During: typing of intrinsic-call at /grade/package/cnnlab/edges.py (109)

File "../grade/package/cnnlab/edges.py", line 109:
def _correlate2d_valid(image, kernel):
    <source elided>
                for v in range(kw):
                    out[i, j] += image[i + u, j + v] * kernel[u, v] + 'x'
                    ^

During: Pass nopython_type_inference""".format(blank=" ")


def test_a_numba_typing_error_is_trimmed_to_the_reason_and_the_learners_frame():
    assert trim_numba_error(TYPING_ERROR).splitlines() == [
        "TypingError (Numba could not compile your code): No implementation of function "
        "Function(<built-in function add>) found for signature: add(float64, Literal[str](x))",
        '  File "cnnlab/edges.py", line 109, in _correlate2d_valid',
        "      out[i, j] += image[i + u, j + v] * kernel[u, v] + 'x'",
    ]
    other = "AssertionError: f(x): shape (3,)"
    assert trim_numba_error(other) == other


def result(test, exercise, message="", passed=False):
    return TestResult(test, exercise, 1.0, False, f"test {test}", passed=passed, message=message)


def test_report_shows_each_distinct_failure_once():
    error = "TypingError (Numba could not compile your code): ...\n(raised at File \"x\")"
    stub = "NotImplementedError: convolve2d is yours to write: cnnlab/edges.py"
    report = Report("ch01_edges", "/p", results=[
        result("a", "correlate2d", error), result("b", "correlate2d", error),
        result("c", "gradient_magnitude", error), result("d", "gradient_magnitude", passed=True),
        result("e", "convolve2d", stub), result("f", "convolve2d", stub),
        result("g", "correlate2d", "AssertionError: other"),
    ])
    table = report.table()
    assert table.count("TypingError") == 1 and "✘ one error, in 3 tests (3 pt):" in table
    for line in ("- [correlate2d] test a (1 pt)", "- [gradient_magnitude] test c (1 pt)"):
        assert line in table
    assert table.count("yours to write") == 1
    assert f"✘ [convolve2d] not started: 2 tests, 2 pt ({stub})" in table
    assert "✘ [correlate2d] test g (1 pt)\n      AssertionError: other" in table
    assert "✔ [gradient_magnitude] test d" in report.feedback()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "cnnlab"
    build_package(folder, stubbed_chapters=set())
    return folder


def edited(finished, folder, old, new, file="edges.py"):
    package = folder / "cnnlab"
    shutil.copytree(finished, package, ignore=shutil.ignore_patterns("__pycache__"))
    source = (package / file).read_text()
    assert source.count(old) == 1
    (package / file).write_text(source.replace(old, new))
    return package


KERNEL_LINE = "out[i, j] += image[i + u, j + v] * kernel[u, v]"


@pytest.mark.slow
def test_a_typing_error_is_shown_once_with_the_tests_it_cost(finished, tmp_path):
    package = edited(finished, tmp_path, KERNEL_LINE, KERNEL_LINE + " + 'x'")
    report = grade("ch01_edges", package=package)
    table = report.table()
    assert report.points() == 0
    assert table.count("Numba could not compile your code") == 1, table
    assert "✘ one error, in 13 tests (13 pt):" in table
    assert "in _correlate2d_valid\n" in table and "kernel[u, v] + 'x'" in table
    assert table.count("\n      - [") == 13  # the tests it cost, one line each
    fix = table.split("what to fix:")[1]
    assert len(fix.strip().splitlines()) <= 20, table  # was 476 lines


@pytest.mark.slow
def test_the_untouched_edition_is_one_not_started_line_per_exercise():
    report = grade("ch01_edges", package=REPO / "src" / "cnnlab")
    fix = report.table().split("what to fix:")[1].strip().splitlines()
    assert fix == [
        f"✘ [{e}] not started: {len(report._of(e))} tests, {report.max_points(e):g} pt "
        f"(NotImplementedError: {e} is yours to write: cnnlab/edges.py)"
        for e in ("correlate2d", "convolve2d", "gradient_magnitude")]


def test_mistake_outcomes_are_cached_on_disk(tmp_path):
    """Replaying a test's calls on the known mistakes computes each outcome once per reference
    version: a second grader with the same cache imports and compiles nothing."""
    rng = np.random.default_rng(0)
    reference = load_reference()
    calls = []
    for h, w, kh, kw in [(5, 6, 3, 2), (4, 4, 2, 2)]:
        image, kernel = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
        # What a learner who forgot the flip returns: the correlation.
        learner = reference.edges.correlate2d(image, kernel, "full")
        calls.append(Call(("edges", "convolve2d"), encode_call((image, kernel, "full"), {}),
                          ("value", learner)))
    first = Mistakes("ch01_edges", cache=tmp_path)
    names = [m.name for m in first.name("convolve2d", calls)]
    assert names == ["convolve2d forgets to flip the kernel"]
    assert first.computed > 0 and first.imported >= 1
    again = Mistakes("ch01_edges", cache=tmp_path)
    assert [m.name for m in again.name("convolve2d", calls)] == names
    assert again.computed == 0 and again.imported == 0
    # The reference's own result is no mistake.
    right = [Call(c.path, c.args, ("value", reference.edges.convolve2d(
        *[np.asarray(a) for a in _args(c)], "full"))) for c in calls]
    assert again.name("convolve2d", right) == []


def _args(call):
    from autograder.mistakes import _decode_call

    args, _ = _decode_call(call.args)
    return args[:2]


@pytest.mark.slow
def test_no_jit_runs_the_kernels_as_python_and_shows_their_prints(finished, tmp_path):
    # tolist() does not compile in Numba's nopython mode: only --no-jit runs this kernel.
    debug = KERNEL_LINE.replace("+=", "-=") + "\n    print('row sums', out.sum(axis=1).tolist())"
    package = edited(finished, tmp_path, "                    " + KERNEL_LINE + "\n    return out",
                     "                    " + debug + "\n    return out")
    report = grade("ch01_edges", package=package, exercises=["correlate2d"], public_only=True,
                   no_jit=True)
    table = report.table()
    assert "TypingError" not in table and "your code printed" in table, table
    assert "row sums [" in table


@pytest.mark.slow
def test_a_failed_image_case_comes_with_a_picture_for_the_check_cell(finished, tmp_path):
    package = edited(finished, tmp_path, KERNEL_LINE, KERNEL_LINE + " * 1.5")  # no known mistake
    report = grade("ch01_edges", package=package, exercises=["correlate2d"], public_only=True)
    assert "known mistake" not in report.table()
    (description, data), *_ = report.pictures()
    assert "6x6 image" in description
    assert np.array(data["got"]).shape == np.array(data["expected"]).shape == (4, 4)
    assert np.allclose(np.array(data["got"]), 1.5 * np.array(data["expected"]))
    matplotlib.use("Agg")
    before = set(sys.modules)
    try:  # what the check cell draws, in the learner's kernel (which imports their cnnlab)
        assert show_pictures(report) >= 1
    finally:
        for name in set(sys.modules) - before:
            if name == "cnnlab" or name.startswith("cnnlab."):
                del sys.modules[name]


def test_every_known_mistake_fits_the_reference(tmp_path):
    """Each catalogue entry's text occurs once in the finished reference (fast; the slow test in
    test_grading.py grades each one)."""
    from autograder.chapters import CHAPTERS
    from autograder.mistakes import apply, catalogue, mistakes_dir, without_markers

    entries = [m for ch in CHAPTERS for m in catalogue(ch.name)]
    assert len(entries) >= 60 and mistakes_dir() == REPO / "solutions" / "mistakes"
    for mistake in entries:
        source = without_markers((REPO / "solutions" / "cnnlab" / mistake.file).read_text())
        assert apply(source, mistake) != source, mistake.name
        assert mistake.hint, mistake.name
