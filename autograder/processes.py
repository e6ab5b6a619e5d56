"""Starting the project's subprocesses so that they find the tools of the Python that runs them.

A virtual environment used without activation (`.venv/bin/python -m pytest`) does not have its
scripts folder on PATH, yet nbgrader runs its `alembic` console script from PATH, and jupyter and
pytest are started by name in places. Every subprocess the project starts gets `tool_env()`.
"""

import os
import sys
from pathlib import Path


def scripts_folder():
    """The folder of this interpreter's console scripts (`.venv/bin`), not resolved: a venv's
    python is a link to the base interpreter, whose folder holds none of the venv's tools."""
    return str(Path(sys.executable).parent)


def with_scripts_first(path):
    """`path` (a PATH string) with this interpreter's scripts folder first, once."""
    first = scripts_folder()
    rest = [p for p in (path or "").split(os.pathsep) if p and p != first]
    return os.pathsep.join([first, *rest])


def tool_env(base=None, **changes):
    """A child's environment: `base` (default os.environ) plus `changes`, scripts folder first on
    PATH."""
    env = dict(os.environ if base is None else base)
    env.update(changes)
    env["PATH"] = with_scripts_first(env.get("PATH"))
    return env
