"""What the tests of a fresh machine share: the README's command blocks, a copy of the repository,
and the environment of a new shell on a machine with nothing but the operating system's Python."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.reference import REPO

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def readme_block(name):
    """The lines of the fenced code block between `<!-- name -->` and `<!-- /name -->`."""
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- {name} -->\n```\w*\n(.*?)```\n<!-- /{name} -->", text, re.S)
    assert found, f"README.md has no {name} block"
    return found.group(1).strip().splitlines()


def copy_of_repository(dest):
    """The repository's files as a clone has them (plus new, not yet ignored ones) at `dest`."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def new_shell_env(home):
    """A new shell's environment: HOME, the operating system's PATH, and the machine's pip cache
    (filled by the README's test install, as a user's would be)."""
    path = SYSTEM_PATH
    if not shutil.which("python3", path=path):  # a machine whose Python lives elsewhere
        path = f"{Path(sys._base_executable).parent}:{path}"
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8",
            "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", os.path.expanduser("~/.cache/pip"))}


def run_script(lines, cwd, env, timeout=1200):
    """Run shell lines with bash -euo pipefail; on failure, fail the test with their output."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def missing(what):
    """Skip, saying what is missing; under CI=true a missing piece fails the run instead."""
    message = f"this test needs {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: .ci/run must provide it)")
    pytest.skip(message)


def need_bwrap():
    """Skip where the bwrap sandbox cannot run; under CI=true fail instead."""
    from autograder.sandbox import bwrap_problem

    if bwrap_problem():
        missing(f"the bwrap sandbox ({bwrap_problem()}; .ci/setup-system installs it)")
