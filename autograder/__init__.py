"""cnnlab's grading engine, nbgrader settings and course build.

    from autograder import check          # in a notebook's graded cell
    python -m autograder grade ch01       # self-study score table
    python -m autograder build            # regenerate src/ and course/ from solutions/
"""

from .engine import Report, check, grade
from .reference import earlier_chapters

__all__ = ["Report", "check", "earlier_chapters", "grade"]
