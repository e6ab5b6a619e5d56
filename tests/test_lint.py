"""The project keeps ruff clean (configuration in pyproject.toml)."""

import subprocess
import sys

from autograder.reference import REPO


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
