"""The threat catalogue of issue 9: real malicious submissions, each graded like any other.

Every cheat sits on top of the untouched student edition (honest points: 0) or, where a cheat
could also hurt an honest student, of the finished reference (honest points: full marks). Each
must earn only its honest points, leak nothing of the reference, leave other submissions and the
reference untouched, and finish in bounded time. Graded in the bwrap sandbox (skipped where bwrap
cannot run); tests/test_remote.py covers the process fallback.
"""

import os
import shutil
import time

import pytest
from fresh import need_bwrap

from autograder import grade
from autograder.build import build_package
from autograder.reference import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def sandbox():
    """The catalogue is graded in the bwrap sandbox: skip where it cannot run, fail under CI."""
    need_bwrap()

SOLUTIONS = REPO / "solutions" / "cnnlab"
SECRET = "### BEGIN SOLUTION"  # in every reference module with an exercise
CH01_POINTS = 13


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "cnnlab"
    build_package(folder, stubbed_chapters=set())
    return folder


def submission(tmp_path, init="", files=None, base=REPO / "src" / "cnnlab"):
    """A submission folder holding `cnnlab/` (`base` plus `init` appended to its __init__.py)
    and `files` (path relative to the submission folder -> text)."""
    folder = tmp_path / "submission"
    shutil.copytree(base, folder / "cnnlab", ignore=shutil.ignore_patterns("__pycache__"))
    init_file = folder / "cnnlab" / "__init__.py"
    init_file.write_text(init_file.read_text() + "\n" + init.replace("@REPO@", str(REPO)))
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text.replace("@REPO@", str(REPO)))
    return folder / "cnnlab"


def graded(package, **kw):
    start = time.perf_counter()
    report = grade("ch01", package=package, **kw)
    report.wall = time.perf_counter() - start
    text = report.table()
    assert SECRET not in text and "BEGIN SOLUTION" not in text
    return report


FORGE_REPORT = '''
import glob, json, os
for cmdline in glob.glob("/proc/*/cmdline"):
    try:
        args = open(cmdline, "rb").read().split(b"\\0")
    except OSError:
        continue
    if b"--grade-report" in args:
        path = args[args.index(b"--grade-report") + 1].decode()
        try:
            with open(path, "a") as f:
                for name in ("test_correlate2d_worked_example", "test_convolve2d_worked_example"):
                    f.write(json.dumps({"event": "result", "test": name, "passed": True,
                                        "message": ""}) + "\\n")
        except OSError:
            pass
os._exit(0)
'''

DELEGATE = '''
import importlib.util, os, sys
from pathlib import Path

def _find_reference():
    if "cnnlab_reference" in sys.modules:
        return Path(sys.modules["cnnlab_reference"].__file__).parent
    for candidate in [os.environ.get("CNNLAB_REFERENCE", ""), "@REPO@/solutions/cnnlab"]:
        if candidate and Path(candidate, "edges.py").exists():
            return Path(candidate)
    for parent in Path(__file__).resolve().parents:
        if (parent / "solutions" / "cnnlab" / "edges.py").exists():
            return parent / "solutions" / "cnnlab"

_found = _find_reference()
if _found is not None:
    spec = importlib.util.spec_from_file_location("cnnlab.edges", _found / "edges.py")
    edges = importlib.util.module_from_spec(spec)
    sys.modules["cnnlab.edges"] = edges
    spec.loader.exec_module(edges)
'''

PATCH_EVERYTHING = '''
import builtins, sys
import numpy as np
np.isclose = lambda *a, **k: np.zeros(np.shape(a[0]), bool)
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
builtins.isinstance = lambda *a: True
for name in ("autograder.feedback", "autograder.plugin", "autograder.engine"):
    try:
        module = __import__(name, fromlist=["x"])
        module.assert_close = lambda *a, **k: None
        module._write = lambda record: None
        module.TestResult.passed = True
    except Exception:
        pass
sys.modules["cnnlab.edges"] = type(sys)("cnnlab.edges")
sys.modules["cnnlab.edges"].correlate2d = lambda image, kernel, mode="valid": np.zeros((4, 4))
'''

STEAL = '''
def _steal():
    for path in ["@REPO@/solutions/cnnlab/edges.py", "@REPO@/solutions/cnnlab/conv.py"]:
        try:
            return open(path).read()
        except OSError as error:
            last = error
    raise last

from . import edges as _edges
def _leaky(image, kernel, mode="valid"):
    raise ValueError(_steal())
_edges.correlate2d = _leaky
'''

SHADOW = "open('@REPO@/../pwned-{name}', 'w').write('x')\n"


def test_forged_report_lines_and_os_exit_earn_nothing(tmp_path):
    report = graded(submission(tmp_path, FORGE_REPORT))
    assert report.max_points() == CH01_POINTS and report.points() == 0, report.table()
    assert report.wall < 120


def test_reference_delegation_finds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_REFERENCE", str(SOLUTIONS))
    report = graded(submission(tmp_path, DELEGATE))
    assert report.points() == 0, report.table()


def test_patching_numpy_builtins_comparisons_and_reporter_changes_nothing(tmp_path):
    report = graded(submission(tmp_path, PATCH_EVERYTHING))
    assert report.points() == 0, report.table()


# correlate2d from a library whose name the static check of forbidden calls cannot read (it is
# built at run time); the second also undoes the worker's ImportError for SciPy first.
RUNTIME_IMPORT = """
import importlib as _importlib, sys as _sys
from . import edges as _edges

def _library_correlate2d(image, kernel, mode="valid"):
    {undo}
    signal = _importlib.import_module("sci" + "py.sig" + "nal")
    return getattr(signal, "correlate" + "2d")(image, kernel, mode=mode)

_edges.correlate2d = _library_correlate2d
"""


@pytest.mark.parametrize("undo", ["pass", "_sys.modules.pop('scipy', None)"])
def test_a_library_imported_by_a_name_built_at_run_time_is_not_there(tmp_path, undo):
    report = graded(submission(tmp_path, RUNTIME_IMPORT.format(undo=undo)))
    assert report.points() == 0, report.table()
    assert "No module named 'scipy.signal'" in report.table(), report.table()


def test_shadowing_files_beside_and_inside_the_package_shadow_nothing(tmp_path):
    marker = REPO.parent / "pwned-{name}"
    files = {}
    for name in ("sitecustomize.py", "usercustomize.py", "conftest.py", "autograder/__init__.py",
                 "autograder/plugin.py", "cnnlab/sitecustomize.py", "numpy/__init__.py"):
        files[name] = SHADOW.format(name=name.replace("/", "_"))
    files["pytest.ini"] = "[pytest]\naddopts = -p no:autograder.plugin\n"
    files["evil.pth"] = "import os; " + SHADOW.format(name="pth").strip() + "\n"
    files["cnnlab/evil.pth"] = files["evil.pth"]
    report = graded(submission(tmp_path, files=files))
    assert report.max_points() == CH01_POINTS and report.points() == 0, report.table()
    assert all("NotImplementedError" in r.message for r in report.results), report.table()
    assert not list(REPO.parent.glob("pwned-*")), marker


def test_an_endless_loop_costs_only_its_exercise_in_bounded_time(tmp_path, finished, monkeypatch):
    monkeypatch.setenv("CNNLAB_CALL_TIMEOUT", "5")
    init = ("from . import edges as _e\n"
            "def _loop(*a, **k):\n    while True:\n        pass\n"
            "_e.gradient_magnitude = _loop\n")
    report = graded(submission(tmp_path, init, base=finished))
    assert report.points("gradient_magnitude") == 0
    assert report.points() == report.max_points() - report.max_points("gradient_magnitude") > 0
    assert any("no answer within 5 s" in r.message for r in report.results), report.table()
    assert report.wall < 90


@pytest.mark.parametrize("crash", [
    "import os\n    os._exit(0)",
    "import ctypes\n    ctypes.string_at(0)",
    "import numpy\n    return numpy.ones(20 * 2**30 // 8)",
])
def test_a_crash_or_a_huge_allocation_costs_only_its_exercise(tmp_path, finished, crash):
    init = f"from . import edges as _e\ndef _crash(*a, **k):\n    {crash}\n_e.convolve2d = _crash\n"
    report = graded(submission(tmp_path, init, base=finished))
    assert report.points("convolve2d") == 0
    assert report.points() == report.max_points() - report.max_points("convolve2d") > 0


FORK_LOOP = """
from . import edges as _e
def _forks(*a, **k):
    import os, time
    n = 0
    try:
        while n < {most}:
            if os.fork() == 0:
                time.sleep(1)
                os._exit(0)
            n += 1
    except OSError as error:
        raise ValueError(f"forked {{n}} processes, then {{error}}") from None
    raise ValueError(f"forked all {{n}} processes")
_e.gradient_magnitude = _forks
"""


def test_a_fork_loop_is_bounded_and_costs_only_its_exercise(tmp_path, finished):
    from autograder.sandbox import Limits

    # A bounded loop: more forks than the worker may make (a fork bomb's first steps).
    most = Limits().processes + 200
    report = graded(submission(tmp_path, FORK_LOOP.format(most=most), base=finished))
    assert report.points("gradient_magnitude") == 0
    assert report.points() == report.max_points() - report.max_points("gradient_magnitude") > 0
    messages = "\n".join(r.message for r in report.results)
    assert "Resource temporarily unavailable" in messages, report.table()
    assert "forked all" not in messages, report.table()
    assert report.wall < 90


def test_100_mb_of_prints_cost_nothing(tmp_path, finished):
    init = ("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)\n"
            "sys.stdout.flush()\n")
    report = graded(submission(tmp_path, init, base=finished))
    assert report.points() == report.max_points() == CH01_POINTS, report.table()
    assert report.wall < 120


def test_reading_the_solutions_into_the_feedback_finds_nothing(tmp_path):
    report = graded(submission(tmp_path, STEAL), exercises=["correlate2d"])
    messages = "\n".join(r.message for r in report.results)
    assert "No such file or directory" in messages and "njit" not in messages


def test_writing_into_other_submissions_and_the_reference_fails(tmp_path, finished):
    other = tmp_path / "other" / "cnnlab"
    shutil.copytree(finished, other)
    before = {p: p.read_bytes() for p in [*other.rglob("*.py"), *SOLUTIONS.glob("*.py")]}
    caches = sorted(p.name for p in SOLUTIONS.glob("__pycache__/*"))
    init = f'''
import os
for folder in [{str(other)!r}, {str(SOLUTIONS)!r}, {str(SOLUTIONS / "__pycache__")!r}]:
    try:
        os.makedirs(folder, exist_ok=True)
        for name in ("edges.py", "conv.py", "edges.correlate2d-63.py311.nbi"):
            with open(os.path.join(folder, name), "w") as f:
                f.write("raise SystemExit('planted')")
    except OSError:
        pass
'''
    report = graded(submission(tmp_path, init), exercises=["correlate2d"])
    assert report.points() == 0
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in SOLUTIONS.glob("__pycache__/*")) == caches


def test_a_planted_numba_cache_in_the_submission_is_not_used(tmp_path):
    package = submission(tmp_path)
    cache = package / "__pycache__"
    cache.mkdir()
    for name in ("edges._correlate2d_valid-92.py311.nbi",
                 "edges._correlate2d_valid-92.py311.1.nbc"):
        (cache / name).write_bytes(b"\x80\x04planted")
    report = graded(package, exercises=["correlate2d"])
    assert report.points() == 0
    assert all("NotImplementedError" in r.message for r in report.results), report.table()


def test_a_symlink_to_the_solutions_is_not_followed(tmp_path):
    package = submission(tmp_path)
    (package / "edges.py").unlink()
    (package / "edges.py").symlink_to(SOLUTIONS / "edges.py")
    report = graded(package, exercises=["correlate2d"])
    assert report.points() == 0, report.table()


def test_grade_command_says_how_the_code_was_isolated(tmp_path):
    report = graded(submission(tmp_path), exercises=["correlate2d"], public_only=True)
    assert "your code ran in: bwrap sandbox" in report.table()


# --- through nbgrader autograde ----------------------------------------------------------------

CHECK_CELL = "check_correlate2d"
CELL_TIMEOUT = 20  # seconds a notebook cell may run in this course's autograde


def _add_cell_before(work, grade_id, source):
    import json

    path = work / "ch01_edges.ipynb"
    nb = json.loads(path.read_text())
    at = next(i for i, c in enumerate(nb["cells"])
              if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    nb["cells"].insert(at, {"cell_type": "code", "execution_count": None, "metadata": {},
                            "outputs": [], "source": source})
    path.write_text(json.dumps(nb))


def _append_init(work, code):
    init = work / "cnnlab" / "__init__.py"
    init.write_text(init.read_text() + "\n" + code)


def _edit_graded_cells(work):
    """Claim 100 points in one graded cell's metadata, delete another graded cell, and rewrite a
    third (locked) one to return full marks."""
    import json

    path = work / "ch01_edges.ipynb"
    nb = json.loads(path.read_text())
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in nb["cells"]}
    cells["check_correlate2d"]["metadata"]["nbgrader"]["points"] = 100
    nb["cells"].remove(cells["check_convolve2d"])
    cells["check_gradient_magnitude"]["source"] = "99.0  # full marks, please"
    path.write_text(json.dumps(nb))


def _finished_with(chapter, code):
    """A student who finished every exercise, with `code` appended to the package's
    __init__.py."""
    from test_nbgrader_roundtrip import solve

    def edit(work):
        solve(work / "cnnlab", set(chapter.functions))
        _append_init(work, code)
    return edit


CRASHES = """
from . import edges as _e
def _convolve2d(*a, **k):
    import numpy
    return numpy.ones(20 * 2**30 // 8)
def _gradient_magnitude(*a, **k):
    import ctypes
    ctypes.string_at(0)
_e.convolve2d, _e.gradient_magnitude = _convolve2d, _gradient_magnitude
import sys
for _ in range(100):
    sys.stdout.write("x" * 2**20)
sys.stdout.flush()
"""

LOOP_AND_EXIT = """
from . import edges as _e
def _convolve2d(*a, **k):
    while True:
        pass
def _gradient_magnitude(*a, **k):
    import os
    os._exit(0)
_e.convolve2d, _e.gradient_magnitude = _convolve2d, _gradient_magnitude
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """One ch01 course: an honest student and one cheat per row of the nbgrader column."""
    from test_nbgrader_roundtrip import nbgrader, solve

    from autograder import build
    from autograder.chapters import CHAPTERS

    chapter = CHAPTERS[0]
    root = tmp_path_factory.mktemp("threats-nbgrader")
    course, exchange, homes = root / "course", root / "exchange", root / "students"
    exchange.mkdir()
    exchange.chmod(0o777)
    build.write_nbgrader_course(course, chapters=[chapter])
    nbgrader("generate_assignment", chapter.name, "--force", cwd=course, exchange=exchange)
    nbgrader("release_assignment", chapter.name, "--force", cwd=course, exchange=exchange)
    ada_submitted = course / "submitted" / "ada" / chapter.name / "cnnlab" / "edges.py"
    students = {
        "ada": lambda work: solve(work / "cnnlab", set(chapter.functions)),
        # A cell before the graded cell redefines check.
        "eve": lambda work: _add_cell_before(work, CHECK_CELL,
                                             "def check(*args, **kwargs):\n    return 6.0"),
        # The package replaces the notebook's check when it is imported.
        "fay": lambda work: _append_init(
            work, "import __main__\n__main__.check = lambda *a, **k: 99.0\n"),
        # The package prints the reference into the notebook (and so the feedback).
        "gus": lambda work: _append_init(work, f'''
for _path in [{str(SOLUTIONS / "conv.py")!r}, {str(SOLUTIONS / "edges.py")!r}]:
    try:
        print(open(_path).read())
    except OSError as _error:
        print("could not read", _error)
'''),
        # The package writes into another submission and the gradebook; a fake autograder.
        "hal": lambda work: (_append_init(work, f'''
for _path in [{str(ada_submitted)!r}, {str(course / "gradebook.db")!r}]:
    try:
        with open(_path, "a") as _f:
            _f.write("planted")
    except OSError as _error:
        print("could not write", _error)
'''), (work / "autograder").mkdir(), (work / "autograder" / "__init__.py").write_text(
            "def check(*args, **kwargs):\n    return 6.0\n")),
        # Finished code; a graded cell's points raised, one graded cell deleted, a locked one
        # rewritten: only the restored cells count (6 + 2).
        "ivy": lambda work: (solve(work / "cnnlab", set(chapter.functions)),
                             _edit_graded_cells(work)),
        # The package patches NumPy, builtins, the comparisons and the reporter.
        "jon": lambda work: _append_init(work, PATCH_EVERYTHING),
        # Finished, but convolve2d allocates 20 GiB, gradient_magnitude segfaults, and the
        # package prints 100 MB when imported: correlate2d's 6 points.
        "kim": _finished_with(chapter, CRASHES),
        # Finished, but convolve2d never returns and gradient_magnitude calls os._exit: 6.
        "lea": _finished_with(chapter, LOOP_AND_EXIT),
        "zed": lambda work: solve(work / "cnnlab", set(chapter.functions)),
    }
    for name, edit in students.items():
        home = homes / name
        home.mkdir(parents=True)
        nbgrader("fetch_assignment", chapter.name, "--course=cnnlab", cwd=home, exchange=exchange)
        edit(home / chapter.name)
        nbgrader("submit", chapter.name, "--course=cnnlab", f"--student={name}", cwd=home,
                 exchange=exchange)
    nbgrader("collect", chapter.name, cwd=course, exchange=exchange)
    ada_before = ada_submitted.read_bytes()
    start = time.perf_counter()
    # Short limits for the endless loop: a notebook cell's (its kernel run then stops) and a
    # call's in the trusted worker (that function is then not called again).
    os.environ["CNNLAB_CALL_TIMEOUT"] = "20"
    try:
        nbgrader("autograde", chapter.name, "--create", "--CourseDirectory.student_id_exclude=zed",
                 f"--Execute.timeout={CELL_TIMEOUT}", cwd=course, exchange=exchange)
    finally:
        del os.environ["CNNLAB_CALL_TIMEOUT"]
    seconds = time.perf_counter() - start
    nbgrader("generate_feedback", chapter.name, cwd=course, exchange=exchange)
    nbgrader("export", f"--CsvExportPlugin.to={root / 'grades.csv'}", cwd=course,
             exchange=exchange)
    import csv

    with open(root / "grades.csv") as f:
        grades = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    print(f"threats autograde: {seconds:.0f} s for {len(students) - 1} submissions, {grades}")
    return {"course": course, "exchange": exchange, "grades": grades, "chapter": chapter.name,
            "ada_before": ada_before, "ada_submitted": ada_submitted, "seconds": seconds,
            "submissions": len(students) - 1}


def test_nbgrader_gives_the_cheats_only_honest_points(course):
    grades = course["grades"]
    assert grades["ada"] == CH01_POINTS
    assert grades["eve"] == grades["fay"] == grades["gus"] == grades["hal"] == 0
    assert grades["jon"] == 0
    assert grades["ivy"] == 6 + 2  # the deleted cell's 5 points are not given
    assert grades["kim"] == grades["lea"] == 6  # correlate2d's; the crashes cost only theirs


def test_nbgrader_edited_and_deleted_graded_cells_count_only_as_restored(course):
    import json

    folder = course["course"] / "trusted_grades" / course["chapter"]
    ivy = json.loads((folder / "ivy.json").read_text())
    cells = {c["cell"]: c for c in ivy["cells"]}
    assert sorted(cells) == ["check_correlate2d", "check_gradient_magnitude"]
    assert cells["check_correlate2d"]["max_points"] == 6 == cells["check_correlate2d"]["trusted"]
    assert cells["check_gradient_magnitude"]["trusted"] == 2
    autograded = (course["course"] / "autograded" / "ivy" / course["chapter"]
                  / f"{course['chapter']}.ipynb").read_text()
    assert "full marks, please" not in autograded


def test_nbgrader_crashes_loops_and_floods_finish_in_bounded_time(course):
    import json

    # Each kernel run stops at its first dead kernel or cell timeout; each trusted grading pays
    # at most one call timeout per hung function.
    assert course["seconds"] < course["submissions"] * 60, course["seconds"]
    folder = course["course"] / "autograded"
    for name in ("kim", "lea"):
        text = (folder / name / course["chapter"] / f"{course['chapter']}.ipynb").read_text()
        assert "not run: " in text, name
        assert len(text) < 5_000_000, (name, len(text))  # kim's 100 MB of prints are not kept
    lea = (folder / "lea" / course["chapter"] / f"{course['chapter']}.ipynb").read_text()
    assert "no answer within 20 s" in lea and "CellTimeoutError" in lea
    kim = (folder / "kim" / course["chapter"] / f"{course['chapter']}.ipynb").read_text()
    assert "MemoryError" in kim and "DeadKernelError" in kim
    trusted = json.loads((course["course"] / "trusted_grades" / course["chapter"]
                          / "kim.json").read_text())
    assert trusted["points"] == 6 and trusted["seconds"] < 120, trusted


def test_nbgrader_flags_the_tampered_cells_for_the_instructor(course):
    import json
    import subprocess
    import sys

    from autograder.processes import tool_env

    folder = course["course"] / "trusted_grades" / course["chapter"]
    flagged = {p.stem: json.loads(p.read_text())["flagged"] for p in folder.glob("*.json")}
    cells = ["check_correlate2d", "check_convolve2d", "check_gradient_magnitude"]
    assert flagged["ada"] == flagged["gus"] == []
    assert flagged["eve"] == flagged["fay"] == cells
    # hal's fake autograder/ is the kernel's `autograder` only where the real one is installed
    # in site-packages (the kernel's working folder comes before site-packages, after PYTHONPATH).
    assert flagged["hal"] in ([], cells)
    done = subprocess.run([sys.executable, "-m", "autograder", "report", course["chapter"],
                           "--course", str(course["course"])], capture_output=True, text=True,
                          env=tool_env())
    assert done.returncode == 1 and "of 9 submissions have cells" in done.stdout, done.stdout
    assert "eve                       0 / 13    check_correlate2d, check_convolve2d" in done.stdout
    feedback = (course["course"] / "feedback" / "eve" / course["chapter"]
                / f"{course['chapter']}.html").read_text()
    assert "returned 6.0" in feedback


def test_nbgrader_feedback_leaks_no_solution(course):
    for html in (course["course"] / "feedback").rglob("*.html"):
        text = html.read_text()
        assert "BEGIN SOLUTION" not in text and "_conv2d_forward_loops" not in text, html
    gus = (course["course"] / "feedback" / "gus" / course["chapter"]
           / f"{course['chapter']}.html").read_text()
    assert "could not read" in gus


def test_nbgrader_cheats_cannot_write_into_other_submissions_or_the_gradebook(course):
    assert course["ada_submitted"].read_bytes() == course["ada_before"]
    assert b"planted" not in (course["course"] / "gradebook.db").read_bytes()


def test_nbgrader_autograde_without_the_reference_stops_and_grades_nothing(course, tmp_path):
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    from autograder.processes import tool_env

    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", course["chapter"], "--student=zed",
         f"--Exchange.root={course['exchange']}", "--log-level=WARN"],
        cwd=course["course"], capture_output=True, text=True,
        env=tool_env(CNNLAB_REFERENCE=str(tmp_path / "nowhere")))
    assert done.returncode != 0
    assert "reference package is not at" in done.stdout + done.stderr
    assert not (course["course"] / "autograded" / "zed" / course["chapter"]).exists()
    with Gradebook(f"sqlite:///{course['course'] / 'gradebook.db'}") as gb:
        submission = gb.find_submission(course["chapter"], "zed")
        assert all(g.auto_score is None for nb in submission.notebooks for g in nb.grades)
