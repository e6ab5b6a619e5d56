"""The README's instructor cycle, command for command, in a venv made from `.[instructor]` alone.

The block between the README's instructor-cycle markers runs in bash in a copy of the repository,
with a fresh HOME and PATH reduced to the operating system's folders. Its one comment line where the
student works becomes the student's work: the reference `edges.py`, so the grade must be full marks.
"""

import csv
import getpass

import pytest
from fresh import copy_of_repository, new_shell_env, readme_block, run_script

from autograder.build import build_package, instructor_notebook

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("instructor-cycle")]

STUDENT_WORKS = "# ... the student edits ch01_edges/cnnlab/edges.py"


def test_readme_instructor_cycle_as_written(tmp_path):
    repo = copy_of_repository(tmp_path / "repo")
    home = tmp_path / "home"
    home.mkdir()
    solved = tmp_path / "solved"
    build_package(solved, stubbed_chapters=set())
    lines = readme_block("instructor-cycle")
    assert sum(line.startswith(STUDENT_WORKS) for line in lines) == 1
    script = [f"cp {solved / 'edges.py'} ch01_edges/cnnlab/edges.py"
              if line.startswith(STUDENT_WORKS) else line for line in lines]
    run_script(script, cwd=repo, env=new_shell_env(home))

    with open(home / "cnnlab-course" / "grades.csv") as f:
        grades = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    top = sum(c.metadata["nbgrader"]["points"] for c in instructor_notebook("ch01_edges").cells
              if c.metadata.get("nbgrader", {}).get("grade"))
    assert grades == {getpass.getuser(): top}
    feedback = list((home / "student" / "ch01_edges" / "feedback").glob("*/ch01_edges.html"))
    assert len(feedback) == 1 and "✔" in feedback[0].read_text()
    assert (home / "cnnlab-exchange" / "cnnlab" / "outbound" / "ch01_edges").is_dir()
    config = (home / "cnnlab-course" / "nbgrader_config.py").read_text()
    assert str(home / "cnnlab-exchange") in config
