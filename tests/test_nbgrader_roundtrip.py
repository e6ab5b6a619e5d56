"""The nbgrader round trip, from the command line, as an instructor and four students run it.

generate → release → fetch → (students edit) → submit → collect → autograde → feedback → export.

Students: `ada` submits the reference solution (full marks); `bob` submits the untouched release
(0, and the grader completes); `cy` gets correlate2d right and nothing else (exactly the points of
correlate2d); `dee` leaves the code untouched but rewrites a locked graded cell to print its full
points (nbgrader restores the cell, so dee is graded like bob).
"""

import csv
import json
import subprocess
import sys
import time

import pytest

from autograder import build
from autograder.reference import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader_roundtrip")]

CHAPTER = "ch01_edges"
POINTS = {"correlate2d": 6, "convolve2d": 5, "gradient_magnitude": 2}


def nbgrader(*args, cwd, exchange):
    command = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
               "--log-level=WARN"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def solve(package, functions):
    """Write into the fetched package copy the reference code of `functions` (module.function)."""
    for path in package.glob("*.py"):
        source = (REPO / "solutions" / "cnnlab" / path.name).read_text()
        path.write_text(build.strip_module(
            source, path.stem, lambda f, m=path.stem: f"{m}.{f}" not in functions
        ))


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbgrader")
    course, exchange, homes = root / "course", root / "exchange", root / "students"
    exchange.mkdir()
    exchange.chmod(0o777)
    build.write_nbgrader_course(course, chapters=[build.CHAPTERS[0]])
    timings = {}

    start = time.perf_counter()
    nbgrader("generate_assignment", CHAPTER, "--force", cwd=course, exchange=exchange)
    nbgrader("release_assignment", CHAPTER, "--force", cwd=course, exchange=exchange)
    released = course / "release" / CHAPTER
    assert "BEGIN SOLUTION" not in "".join(p.read_text() for p in released.rglob("*.py"))

    ch01 = set(build.CHAPTERS[0].functions)
    students = {
        "ada": lambda work: solve(work / "cnnlab", ch01),
        "bob": lambda work: None,
        "cy": lambda work: solve(work / "cnnlab", {"edges.correlate2d",
                                                    "edges._correlate2d_valid"}),
        "dee": tamper_with_locked_cell,
    }
    for name, edit in students.items():
        home = homes / name
        home.mkdir(parents=True)
        nbgrader("fetch_assignment", CHAPTER, "--course=cnnlab", cwd=home, exchange=exchange)
        edit(home / CHAPTER)
        nbgrader("submit", CHAPTER, "--course=cnnlab", f"--student={name}", cwd=home,
                 exchange=exchange)
    nbgrader("collect", CHAPTER, cwd=course, exchange=exchange)
    timings["setup"] = time.perf_counter() - start

    start = time.perf_counter()
    nbgrader("autograde", CHAPTER, "--create", cwd=course, exchange=exchange)
    timings["autograde"] = time.perf_counter() - start
    nbgrader("generate_feedback", CHAPTER, cwd=course, exchange=exchange)
    nbgrader("export", f"--CsvExportPlugin.to={root / 'grades.csv'}", cwd=course,
             exchange=exchange)
    with open(root / "grades.csv") as f:
        grades = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    per_submission = timings["autograde"] / len(students)
    print(f"nbgrader round trip: {timings}, {per_submission:.1f} s a submission")
    return course, grades


def tamper_with_locked_cell(work):
    path = work / f"{CHAPTER}.ipynb"
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "check_correlate2d")
    cell["source"] = "6.0  # full marks, please"
    path.write_text(json.dumps(nb))


def test_reference_submission_gets_full_marks(roundtrip):
    _, grades = roundtrip
    assert grades["ada"] == sum(POINTS.values())


def test_untouched_submission_gets_zero(roundtrip):
    _, grades = roundtrip
    assert grades["bob"] == 0


def test_partial_submission_gets_exactly_its_exercises_points(roundtrip):
    _, grades = roundtrip
    assert grades["cy"] == POINTS["correlate2d"]


def test_edited_locked_cell_is_restored_and_graded_as_untouched(roundtrip):
    course, grades = roundtrip
    assert grades["dee"] == grades["bob"] == 0
    autograded = (course / "autograded" / "dee" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    assert "full marks, please" not in autograded


def test_autograde_grades_the_students_code_not_the_instructors(roundtrip):
    course, _ = roundtrip
    graded = course / "autograded" / "ada" / CHAPTER / "cnnlab" / "edges.py"
    assert "NotImplementedError" not in graded.read_text()
    source = course / "source" / CHAPTER / "cnnlab" / "edges.py"
    assert "NotImplementedError" in source.read_text()


def test_feedback_is_generated_for_every_student(roundtrip):
    course, _ = roundtrip
    for name in ("ada", "bob", "cy", "dee"):
        html = course / "feedback" / name / CHAPTER / f"{CHAPTER}.html"
        assert html.is_file(), html
    assert "✘" in (course / "feedback" / "cy" / CHAPTER / f"{CHAPTER}.html").read_text()


def test_released_files_hold_no_solution(roundtrip):
    course, _ = roundtrip
    released = course / "release" / CHAPTER
    texts = [p.read_text() for p in released.rglob("*") if p.is_file()]
    assert texts and not any(m in t for t in texts for m in build.LEAK_MARKERS)
