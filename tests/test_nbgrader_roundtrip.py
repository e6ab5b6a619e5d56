"""The nbgrader round trip, from the command line, as an instructor and the students run it.

generate → release → fetch → (students edit) → submit → collect → autograde → feedback → export,
for every chapter. Students:

- `ada` submits the reference solution: full marks;
- `bob` submits the untouched release: 0, and the grader completes;
- `cy` gets one exercise right and nothing else: exactly that exercise's points;
- `dee` (chapter 1) leaves the code untouched but rewrites a locked graded cell to claim full
  points: nbgrader restores the cell, so dee is graded like bob.
"""

import csv
import json
import subprocess
import sys
import time

import pytest

from autograder import build
from autograder.chapters import CHAPTERS
from autograder.processes import tool_env
from autograder.reference import REPO

pytestmark = pytest.mark.slow

# chapter -> (the package functions cy gets right, the points cy must get for them)
PARTIAL = {
    "ch01_edges": ({"edges.correlate2d", "edges._correlate2d_valid"}, 6),
    "ch02_arithmetic": ({"arithmetic.conv_output_size"}, 3),
    "ch03_backprop": ({"conv._conv2d_backward_bias"}, 2),
    "ch04_depthwise": ({"arithmetic.separable_conv_params"}, 2),
}
TAMPERED_CELL = "check_correlate2d"


def nbgrader(*args, cwd, exchange):
    command = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
               "--log-level=WARN"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=tool_env())
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def solve(package, functions):
    """Give the fetched package copy the reference code of `functions` and stubs elsewhere."""
    for path in package.glob("*.py"):
        source = (REPO / "solutions" / "cnnlab" / path.name).read_text()
        path.write_text(build.strip_module(
            source, path.stem, lambda f, m=path.stem: f"{m}.{f}" not in functions
        ))


def tamper_with_locked_cell(work, chapter):
    path = work / f"{chapter}.ipynb"
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == TAMPERED_CELL)
    cell["source"] = "6.0  # full marks, please"
    path.write_text(json.dumps(nb))


def max_points(chapter):
    cells = build.instructor_notebook(chapter).cells
    graded = [c.metadata["nbgrader"] for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    return sum(g["points"] for g in graded)


# One xdist group a chapter: each chapter's round trip runs once, on one worker.
@pytest.fixture(scope="module", params=[
    pytest.param(ch.name, marks=pytest.mark.xdist_group(f"nbgrader-{ch.name}")) for ch in CHAPTERS
])
def roundtrip(request, tmp_path_factory):
    chapter = request.param
    index = [ch.name for ch in CHAPTERS].index(chapter)
    earlier = {f for ch in CHAPTERS[:index] for f in ch.functions}
    root = tmp_path_factory.mktemp(f"nbgrader-{chapter}")
    course, exchange, homes = root / "course", root / "exchange", root / "students"
    exchange.mkdir()
    exchange.chmod(0o777)  # nbgrader's exchange is shared by instructor and students
    build.write_nbgrader_course(course, chapters=[CHAPTERS[index]])

    start = time.perf_counter()
    nbgrader("generate_assignment", chapter, "--force", cwd=course, exchange=exchange)
    nbgrader("release_assignment", chapter, "--force", cwd=course, exchange=exchange)
    students = {
        "ada": lambda work: solve(work / "cnnlab", earlier | set(CHAPTERS[index].functions)),
        "bob": lambda work: None,
        "cy": lambda work: solve(work / "cnnlab", earlier | PARTIAL[chapter][0]),
    }
    if index == 0:
        students["dee"] = lambda work: tamper_with_locked_cell(work, chapter)
    for name, edit in students.items():
        home = homes / name
        home.mkdir(parents=True)
        nbgrader("fetch_assignment", chapter, "--course=cnnlab", cwd=home, exchange=exchange)
        edit(home / chapter)
        nbgrader("submit", chapter, "--course=cnnlab", f"--student={name}", cwd=home,
                 exchange=exchange)
    nbgrader("collect", chapter, cwd=course, exchange=exchange)
    setup = time.perf_counter() - start

    start = time.perf_counter()
    nbgrader("autograde", chapter, "--create", cwd=course, exchange=exchange)
    autograde = time.perf_counter() - start
    nbgrader("generate_feedback", chapter, cwd=course, exchange=exchange)
    nbgrader("export", f"--CsvExportPlugin.to={root / 'grades.csv'}", cwd=course,
             exchange=exchange)
    with open(root / "grades.csv") as f:
        grades = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    print(f"{chapter} round trip: setup {setup:.0f} s, autograde {autograde:.0f} s "
          f"({autograde / len(students):.1f} s a submission), grades {grades}")
    return chapter, course, grades


def test_reference_submission_gets_full_marks(roundtrip):
    chapter, _, grades = roundtrip
    assert grades["ada"] == max_points(chapter) > 0


def test_untouched_submission_gets_zero(roundtrip):
    _, _, grades = roundtrip
    assert grades["bob"] == 0


def test_partial_submission_gets_exactly_its_exercises_points(roundtrip):
    chapter, _, grades = roundtrip
    assert grades["cy"] == PARTIAL[chapter][1]


def test_edited_locked_cell_is_restored_and_graded_as_untouched(roundtrip):
    chapter, course, grades = roundtrip
    if "dee" not in grades:
        assert chapter != CHAPTERS[0].name
        return
    assert grades["dee"] == grades["bob"] == 0
    autograded = (course / "autograded" / "dee" / chapter / f"{chapter}.ipynb").read_text()
    assert "full marks, please" not in autograded


def test_autograde_grades_the_students_code_not_the_instructors(roundtrip):
    chapter, course, _ = roundtrip
    first = next(ch for ch in CHAPTERS if ch.name == chapter).functions[0]
    module, function = first.split(".")
    stub = build.STUB.format(function=function, module=module)
    graded = course / "autograded" / "ada" / chapter / "cnnlab" / f"{module}.py"
    assert stub not in graded.read_text()
    assert stub in (course / "source" / chapter / "cnnlab" / f"{module}.py").read_text()


def test_feedback_is_generated_for_every_student(roundtrip):
    chapter, course, grades = roundtrip
    for name in grades:
        assert (course / "feedback" / name / chapter / f"{chapter}.html").is_file(), name
    assert "✘" in (course / "feedback" / "cy" / chapter / f"{chapter}.html").read_text()


def test_released_files_hold_no_solution(roundtrip):
    chapter, course, _ = roundtrip
    released = course / "release" / chapter
    texts = [p.read_text() for p in released.rglob("*") if p.is_file()]
    assert len(texts) > 1 and not any(m in t for t in texts for m in build.LEAK_MARKERS)
