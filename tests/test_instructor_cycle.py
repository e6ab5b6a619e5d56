"""The README's instructor cycle, command for command, in a venv made from `.[instructor]` alone.

The block between the README's instructor-cycle markers runs in bash in a copy of the repository,
with a fresh HOME and PATH reduced to the operating system's folders. Its one comment line where the
student works becomes the student's work: the reference `edges.py`, so the grade must be full marks.
"""

import csv
import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readme import readme_block

from autograder.build import build_package, instructor_notebook
from autograder.reference import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("instructor-cycle")]

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
STUDENT_WORKS = "# ... the student edits ch01_edges/cnnlab/edges.py"


def copy_of_repository(dest):
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def test_readme_instructor_cycle_as_written(tmp_path):
    repo = copy_of_repository(tmp_path / "repo")
    home = tmp_path / "home"
    home.mkdir()
    solved = tmp_path / "solved"
    build_package(solved, stubbed_chapters=set())
    lines = readme_block("instructor-cycle")
    assert sum(line.startswith(STUDENT_WORKS) for line in lines) == 1
    script = "\n".join(f"cp {solved / 'edges.py'} ch01_edges/cnnlab/edges.py"
                       if line.startswith(STUDENT_WORKS) else line for line in lines)
    path = SYSTEM_PATH
    if not shutil.which("python3", path=path):  # a machine whose Python lives elsewhere
        path = f"{Path(sys._base_executable).parent}:{path}"
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8",
           # The README's test install filled the machine's pip cache: reuse it, as a user would.
           "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", os.path.expanduser("~/.cache/pip"))}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"

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
