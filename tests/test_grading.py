"""Tests of the tests: the grading engine on the reference, the student edition and mutants."""

import shutil
import subprocess
import sys

import pytest

from autograder import check, grade
from autograder.build import build_package, instructor_notebook
from autograder.chapters import CHAPTERS
from autograder.engine import SUITES
from autograder.mistakes import MARK, catalogue
from autograder.processes import tool_env
from autograder.reference import REPO
from autograder.sandbox import GradingError

GRADED = [ch.name for ch in CHAPTERS if (SUITES / f"test_{ch.name}.py").exists()]

# The catalogue of known mistakes (solutions/mistakes/chNN_*.py), graded as mutant submissions.
MUTANTS = [(ch, m) for ch in GRADED for m in catalogue(ch, REPO / "solutions" / "mistakes")]


@pytest.fixture(scope="session")
def reference_copy(tmp_path_factory):
    """The reference package without solution markers, as a learner who finished would have it."""
    folder = tmp_path_factory.mktemp("reference") / "cnnlab"
    build_package(folder, stubbed_chapters=set())
    return folder


@pytest.fixture(scope="session")
def reference_report(reference_copy):
    """grade(chapter) of the finished reference copy, computed once per chapter."""
    reports = {}

    def report(chapter):
        if chapter not in reports:
            reports[chapter] = grade(chapter, package=reference_copy)
        return reports[chapter]

    return report


@pytest.mark.parametrize("chapter", GRADED)
def test_reference_scores_full_marks(chapter, reference_report):
    report = reference_report(chapter)
    assert report.max_points() > 0 and not report.problem, report.table()
    assert report.points() == report.max_points(), report.table()


@pytest.mark.parametrize("chapter", GRADED)
def test_student_edition_scores_zero_without_crashing(chapter):
    report = grade(chapter, package=REPO / "src" / "cnnlab")
    assert report.results and not report.problem, report.table()
    assert report.points() == 0, report.table()
    assert all("NotImplementedError" in r.message for r in report.results), report.table()


@pytest.mark.parametrize("chapter", GRADED)
def test_every_exercise_has_public_checks_and_a_graded_cell(chapter, reference_report):
    """Notebook points equal suite points, so the notebook grade equals the command's grade."""
    report = reference_report(chapter)
    graded_cells = {
        cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
        for cell in instructor_notebook(chapter).cells
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"
    }
    suite_points = {f"check_{e}": report.max_points(e) for e in report.exercises()}
    assert graded_cells == suite_points
    for exercise in report.exercises():
        assert any(r.public for r in report.results if r.exercise == exercise), exercise
        assert any(not r.public for r in report.results if r.exercise == exercise), exercise


def mutant_copy(reference_copy, folder, mistake):
    """The finished reference with one known mistake made, as a learner would submit it."""
    mutant = folder / "cnnlab"
    shutil.copytree(reference_copy, mutant, ignore=shutil.ignore_patterns("__pycache__"))
    source = (mutant / mistake.file).read_text()
    assert source.count(mistake.old) == 1, (
        f"the mutant's text must occur once in {mistake.file}: {mistake.old!r}")
    (mutant / mistake.file).write_text(source.replace(mistake.old, mistake.new))
    return mutant


def test_every_exercise_has_known_mistakes():
    for chapter in GRADED:
        exercises = set(grade_exercises(chapter))
        named = {m.exercise for ch, m in MUTANTS if ch == chapter}
        assert named == exercises, f"{chapter}: no known mistake for {exercises - named}"


def grade_exercises(chapter):
    text = (SUITES / f"test_{chapter}.py").read_text()
    return {line.split('"')[1] for line in text.splitlines()
            if line.startswith("@pytest.mark.grade(")}


@pytest.mark.slow
@pytest.mark.parametrize(("chapter", "mistake"), MUTANTS,
                         ids=[f"{ch}: {m.name}" for ch, m in MUTANTS])
def test_mutant_loses_points_and_gets_its_hint(chapter, mistake, reference_copy, tmp_path):
    """Each known mistake, graded as a submission, loses points in its exercise, and the feedback
    of a failed test names it with its own hint (computed on the trusted side, from the
    reference plus the mistake)."""
    mutant = mutant_copy(reference_copy, tmp_path, mistake)
    report = grade(chapter, package=mutant, exercises=[mistake.exercise])
    assert report.max_points() > 0, report.table()
    assert report.points() < report.max_points(), f"{mistake.name} kept full marks\n" + (
        report.table())
    named = [r for r in report.results if not r.passed and f"{MARK}{mistake.hint}" in r.message]
    assert named, f"{mistake.name}: no failed test names it\n{report.table()}"
    assert mistake.hint in report.table()


def test_public_checks_need_no_reference(reference_copy, monkeypatch, tmp_path):
    """A learner's machine without the solutions still runs the public checks; the hidden tests
    refuse to run without the reference instead of grading low."""
    monkeypatch.setenv("CNNLAB_REFERENCE", str(tmp_path / "nowhere"))
    report = grade(GRADED[0], package=reference_copy, public_only=True)
    assert report.results and report.points() == report.max_points(), report.table()
    with pytest.raises(GradingError, match="reference package is not at"):
        grade(GRADED[0], package=reference_copy)


def test_grade_command_fails_loudly_without_the_reference(reference_copy, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "ch01", "--package", str(reference_copy)],
        capture_output=True, text=True, env=tool_env(CNNLAB_REFERENCE=str(tmp_path / "nowhere")),
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "reference package is not at" in done.stderr
    assert "total" not in done.stdout


def test_notebook_check_returns_the_points_and_prints_feedback(reference_copy, capsys):
    """What a graded cell runs: the return value is nbgrader's partial credit for the cell."""
    assert check(GRADED[0], "correlate2d", hidden=True, package=reference_copy) == 6.0
    assert check(GRADED[0], "correlate2d", package=REPO / "src" / "cnnlab") == 0.0
    out = capsys.readouterr()
    assert out.err == ""  # nbgrader scores a cell with stderr output as 0
    assert "correlate2d: all tests, 6 of 6 points" in out.out
    assert "checking correlate2d (public checks)" in out.out  # a sign of life while it runs
    assert out.out.count("is yours to write") == 1  # one "not started" line for the exercise
    assert ("✘ [correlate2d] not started: 3 tests, 3 pt (NotImplementedError: correlate2d is "
            "yours to write" in out.out)


def test_grade_command_prints_the_score_table(reference_copy):
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "ch01", "--package", str(reference_copy)],
        capture_output=True, text=True, check=True, env=tool_env(),
    )
    assert "correlate2d          6/6     6.0 / 6.0" in done.stdout
    assert "total                       13.0 / 13.0  (100 %)" in done.stdout


@pytest.mark.parametrize("name", ["ch9", "9", "edges", "ch01_edge"])
def test_grade_command_names_the_chapters_for_a_bad_name(name):
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "ch01", name],
                          capture_output=True, text=True, env=tool_env())
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.strip().splitlines() == [
        f"python -m autograder grade: unknown chapter {name!r}; the chapters are "
        + ", ".join(f"{ch.name.split('_')[0]} ({ch.name})" for ch in CHAPTERS)]


def test_grade_command_takes_a_chapter_number(reference_copy):
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "1", "--public", "--package",
         str(reference_copy)], capture_output=True, text=True, check=True, env=tool_env())
    assert "ch01_edges — graded" in done.stdout and "(100 %)" in done.stdout
