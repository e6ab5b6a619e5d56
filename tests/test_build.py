"""The course build: the student editions are fresh, stubbed, and leak nothing."""

import pytest

from autograder import build
from autograder.chapters import CHAPTERS
from autograder.processes import tool_env
from autograder.reference import REPO

SAMPLE = '''
def given(x):
    return x


def exercise_one(x):
    """Doc."""
    y = given(x)
    ### BEGIN SOLUTION
    return y + 1
    ### END SOLUTION


def exercise_two(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
'''


def test_strip_module_stubs_chosen_regions_and_keeps_the_rest():
    out = build.strip_module(SAMPLE, "sample", lambda name: name == "exercise_one")
    assert "return y + 1" not in out
    assert 'raise NotImplementedError("exercise_one is yours to write: cnnlab/sample.py")' in out
    assert "    y = given(x)\n    # YOUR CODE HERE\n" in out  # given code stays, indent kept
    assert "return 2 * x" in out  # kept as reference code ...
    assert "BEGIN SOLUTION" not in out and "END SOLUTION" not in out  # ... without markers
    namespace = {}
    exec(compile(out, "sample.py", "exec"), namespace)
    assert namespace["exercise_two"](3) == 6
    with pytest.raises(NotImplementedError):
        namespace["exercise_one"](1)


FAST = '''
def exercise(x):
    ### BEGIN REFERENCE ONLY
    if x > 100:
        return "fast"
    ### END REFERENCE ONLY
    return slow(x)


def slow(x):
    ### BEGIN SOLUTION
    return "slow"
    ### END SOLUTION
'''


def test_reference_only_regions_never_reach_an_edition():
    """A reference fast path runs in no edition built from solutions/: with the exercise stubbed
    the stub runs, with the reference's solution kept the chapter's own path does."""
    student = build.strip_module(FAST, "sample", lambda name: True)
    assert '"fast"' not in student and "REFERENCE ONLY" not in student
    namespace = {}
    exec(compile(student, "sample.py", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["exercise"](1000)  # the stub runs, whatever the size
    solved = build.strip_module(FAST, "sample", lambda name: False)
    assert '"fast"' not in solved and "REFERENCE ONLY" not in solved
    namespace = {}
    exec(compile(solved, "sample.py", "exec"), namespace)
    assert namespace["exercise"](1000) == "slow"
    with pytest.raises(ValueError, match="without"):
        build.strip_module("x = 1\n### BEGIN REFERENCE ONLY\n", "bad", lambda name: True)


def test_no_edition_has_a_reference_only_module(tmp_path):
    build.write_nbgrader_course(tmp_path)
    packages = [REPO / "src" / "cnnlab", *(tmp_path / "source").glob("*/cnnlab")]
    assert len(packages) == 1 + len(CHAPTERS)
    for module in build.REFERENCE_MODULES:
        assert (REPO / "solutions" / "cnnlab" / f"{module}.py").exists()
        for package in packages:
            assert not (package / f"{module}.py").exists(), package
            assert not any(module in p.read_text() for p in package.glob("*.py")), package


@pytest.mark.parametrize("bad", [
    "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
    "def f():\n    return 1\n    ### END SOLUTION\n",
    "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
])
def test_malformed_regions_are_errors(bad):
    with pytest.raises(ValueError):
        list(build.solution_regions(bad, "bad.py"))


def test_every_registered_function_is_a_stub_in_the_student_package():
    owner = build.chapter_of_function()
    assert len(owner) == sum(len(ch.functions) for ch in CHAPTERS)
    for name in owner:
        module, function = name.split(".")
        source = (REPO / "src" / "cnnlab" / f"{module}.py").read_text()
        stub = build.STUB.format(function=function, module=module)
        assert stub in source, f"{name} is not stubbed in src/cnnlab/{module}.py"


def test_committed_student_editions_match_a_fresh_build_and_leak_nothing():
    problems = build.check()
    assert not problems, "\n".join(problems)


def test_leak_check_finds_a_solution_region(tmp_path):
    (tmp_path / "src" / "cnnlab").mkdir(parents=True)
    (tmp_path / "course").mkdir()
    (tmp_path / "src" / "cnnlab" / "edges.py").write_text("x = 1\n")
    assert build.leaks(tmp_path) == []
    (tmp_path / "src" / "cnnlab" / "edges.py").write_text("### BEGIN SOLUTION\nx = 1\n")
    (tmp_path / "course" / "ch.ipynb").write_text('{"source": "check(\\"a\\", hidden=True)"}')
    found = build.leaks(tmp_path)
    assert any("BEGIN SOLUTION" in f for f in found) and any("hidden test" in f for f in found)


def test_assignment_copies_keep_earlier_chapters_as_reference(tmp_path):
    build.write_nbgrader_course(tmp_path)
    for index, ch in enumerate(CHAPTERS):
        package = tmp_path / "source" / ch.name / "cnnlab"
        text = "".join(p.read_text() for p in package.glob("*.py"))
        assert "BEGIN SOLUTION" not in text
        for later, other in enumerate(CHAPTERS):
            for name in other.functions:
                module, function = name.split(".")
                stub = build.STUB.format(function=function, module=module)
                assert (stub in (package / f"{module}.py").read_text()) == (later >= index), name


def test_wheel_ships_engine_suites_and_the_student_package_only(tmp_path):
    """What a hub image gets from `pip install .`: no solutions, but everything to run checks."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True,
                   env=tool_env())
    (wheel,) = tmp_path.glob("cnnlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for ch in CHAPTERS:
        assert f"autograder/suites/test_{ch.name}.py" in names
    assert {"autograder/suites/pytest.ini", "autograder/plugin.py", "cnnlab/edges.py"} <= names
    assert not any(name.startswith("solutions/") for name in names)
    assert not any("mistakes/" in name for name in names)  # they quote the reference's code
    text = zipfile.ZipFile(wheel).read("cnnlab/edges.py").decode()
    assert "YOUR CODE HERE" in text and "BEGIN SOLUTION" not in text
