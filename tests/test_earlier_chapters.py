"""Earlier chapters in later assignments: the course's choice (`nbgrader-course --earlier`)."""

import pytest

from autograder import build
from autograder.carry import carry_over
from autograder.chapters import CHAPTERS
from autograder.engine import grade
from autograder.reference import REPO

CH1, CH2 = CHAPTERS[0], CHAPTERS[1]
STUB = build.STUB.format(function="correlate2d", module="edges")


def test_reference_choice_ships_earlier_chapters_as_reference_code(tmp_path):
    build.write_nbgrader_course(tmp_path, chapters=[CH2])
    edges = (tmp_path / "source" / CH2.name / "cnnlab" / "edges.py").read_text()
    assert STUB not in edges and "NotImplementedError" not in edges


def test_own_choice_ships_no_solution_of_any_chapter(tmp_path):
    build.write_nbgrader_course(tmp_path, chapters=[CH2], earlier="own")
    package = tmp_path / "source" / CH2.name / "cnnlab"
    assert build.differences(package, REPO / "src" / "cnnlab") == []  # the student edition


def test_unknown_choice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="earlier must be one of"):
        build.write_nbgrader_course(tmp_path, chapters=[CH2], earlier="mine")


@pytest.mark.slow
def test_carry_over_brings_the_students_own_earlier_code_and_nothing_else(tmp_path):
    """A student's chapter-1 code, carried into chapter 2, passes chapter 1's public checks there;
    chapter 2's own stubs stay stubs."""
    earlier, later = tmp_path / CH1.name, tmp_path / CH2.name
    build.write_nbgrader_course(tmp_path / "course", chapters=[CH2], earlier="own")
    (earlier / "cnnlab").mkdir(parents=True)
    for path in (REPO / "solutions" / "cnnlab").glob("*.py"):  # the student solved chapter 1
        (earlier / "cnnlab" / path.name).write_text(build.strip_module(
            path.read_text(), path.stem, lambda f, m=path.stem: f"{m}.{f}" not in CH1.functions))
    (tmp_path / "course" / "source" / CH2.name).rename(later)
    before = {p.name: p.read_text() for p in (later / "cnnlab").glob("*.py")}
    assert carry_over(earlier, later) == sorted(CH1.functions)
    after = {p.name: p.read_text() for p in (later / "cnnlab").glob("*.py")}
    assert [name for name in before if before[name] != after[name]] == ["edges.py"]
    assert STUB not in after["edges.py"]
    report = grade(CH1.name, package=later / "cnnlab", public_only=True)
    assert report.points() == report.max_points() > 0, report.table()
    stub2 = build.STUB.format(function="conv_output_size", module="arithmetic")
    assert stub2 in after["arithmetic.py"]


def test_carry_over_refuses_a_folder_without_the_functions(tmp_path):
    earlier, later = tmp_path / "x", tmp_path / CH2.name
    for folder in (earlier, later):
        (folder / "cnnlab").mkdir(parents=True)
        (folder / "cnnlab" / "edges.py").write_text("def other():\n    pass\n")
    with pytest.raises(ValueError, match="lacks"):
        carry_over(earlier, later)
