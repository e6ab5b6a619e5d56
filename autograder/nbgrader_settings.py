"""nbgrader settings for the course (the generated nbgrader_config.py calls `configure`).

Each setting answers a measured fact about nbgrader 0.9.6:

- autograde overwrites every submitted file that also exists in source/<assignment>/ with the
  instructor's copy; the package copy a student edits must be excluded, or the instructor's
  (stubbed) code would be graded instead of the student's;
- any stderr output in a graded cell scores 0: the grading engine prints only to stdout, and
  IgnorePattern drops the warnings Numba or Python may print while the kernel runs;
- the default 30 s cell timeout is too short for a cold Numba compile plus a test suite;
- the grading kernel comes from the notebook's kernelspec, which the build sets to `python3`;
- a graded cell's score is the value its kernel run returned, which the student controls: the
  autograde pipeline gets `TrustedGrade` (autograder/nbgrader_trusted.py) after Execute, which
  regrades the package on the trusted side and writes those points into the cells;
- the kernel runs the student's code with the instructor's permissions: Execute becomes
  `SandboxedExecute` (autograder/kernel_sandbox.py), the kernel inside bwrap;
- nbgrader runs its `alembic` script from PATH: `.venv/bin/nbgrader ...` without activating the
  venv would not find it, so the config puts nbgrader's own scripts folder first on PATH.
"""

import os
from pathlib import Path

from .chapters import CHAPTERS
from .processes import with_scripts_first
from .reference import REPO


def package_files():
    """The package's files as they sit in an assignment folder (cnnlab/<module>.py).

    Read from `solutions/cnnlab` in a clone, else from the installed student edition: a grading
    server installed from the wheel has no solutions/, and an empty list here would let autograde
    overwrite every student's package with the instructor's stubs.
    """
    folder = REPO / "solutions" / "cnnlab"
    if not folder.is_dir():
        import cnnlab  # the installed student edition has the same modules

        folder = Path(cnnlab.__file__).parent
    return sorted(f"cnnlab/{p.name}" for p in folder.glob("*.py"))


# Where nbgrader's release_assignment, submit and collect meet unless told otherwise.
DEFAULT_EXCHANGE = "/usr/local/share/nbgrader/exchange"


def configure(c, course_root=None, exchange=None):
    os.environ["PATH"] = with_scripts_first(os.environ.get("PATH"))
    c.CourseDirectory.course_id = "cnnlab"
    if exchange is not None:
        c.Exchange.root = str(exchange)
    if course_root is not None:
        c.CourseDirectory.root = str(Path(course_root))
    c.Autograde.exclude_overwriting = {ch.name: package_files() for ch in CHAPTERS}
    c.Execute.timeout = 600
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"(Warning|NumbaDeprecation|NumbaPerformance|Numba)"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    # The grade comes from the trusted side: after the student's kernel ran the notebook,
    # TrustedGrade regrades the submission's package and writes the points into the graded cells.
    c.Autograde.autograde_preprocessors = autograde_preprocessors()
    return c


def autograde_preprocessors():
    """nbgrader 0.9.6's autograde pipeline, its Execute sandboxed (autograder.kernel_sandbox) and
    followed by TrustedGrade."""
    from nbgrader.converters.autograde import Autograde

    from .kernel_sandbox import SandboxedExecute
    from .nbgrader_trusted import TrustedGrade

    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    names = [p.__name__ for p in default]
    if "Execute" not in names or "SaveAutoGrades" not in names:
        raise RuntimeError(f"unexpected nbgrader autograde pipeline {names}")
    default[names.index("Execute")] = SandboxedExecute
    at = max(names.index("Execute"), names.index("IgnorePattern")) + 1
    return [*default[:at], TrustedGrade, *default[at:]]
