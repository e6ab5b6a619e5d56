"""Every instructor notebook runs top to bottom on the reference package, with its figures."""

import ast
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.build import build_package, instructor_notebook
from autograder.chapters import CHAPTERS
from autograder.reference import REPO

pytestmark = pytest.mark.slow

NOTEBOOKS = REPO / "solutions" / "notebooks"
WRITTEN = [ch.name for ch in CHAPTERS if (NOTEBOOKS / f"{ch.name}.py").exists()]


@pytest.mark.parametrize("chapter", WRITTEN)
def test_reference_notebook_runs_top_to_bottom(chapter, tmp_path):
    # The kernel starts in tmp_path, so `import cnnlab` finds this finished copy first.
    build_package(tmp_path / "cnnlab", stubbed_chapters=set())
    nb = instructor_notebook(chapter)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, tmp_path / f"{chapter}.executed.ipynb")
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{chapter}: {errors[0].ename}: {errors[0].evalue}"
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3, f"{chapter} shows only {len(figures)} figures"
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("grade") and cell.cell_type == "code":
            result = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert result and float(result[0].data["text/plain"]) == grading["points"], (
                f"{chapter}: {grading['grade_id']} did not earn full points on the reference"
            )
    print(f"{chapter}: ran in {seconds:.1f} s with {len(figures)} figures")
    assert seconds < 120, f"{chapter} took {seconds:.0f} s (budget: 2 minutes on 2 cores)"


# Chapters whose notebooks use earlier chapters' pieces (chapter 1 has none; chapter 2's uses none).
LATER = [ch.name for ch in CHAPTERS[2:] if ch.name in WRITTEN]


def _assigned(source):
    """The names a cell's code assigns (IPython magics skipped)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    return {node.id for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}


@pytest.mark.parametrize("chapter", LATER)
def test_untouched_student_notebook_has_no_dead_end(chapter, tmp_path):
    """The student edition (course/, with src/cnnlab all stubs) runs top to bottom: the only
    errors are this chapter's own unwritten exercises ("... is yours to write"), never an earlier
    chapter's stub or anything else."""
    build_package(tmp_path / "cnnlab", stubbed_chapters=set(range(len(CHAPTERS))))
    nb = nbformat.read(REPO / "course" / f"{chapter}.ipynb", as_version=4)
    own = {f.split(".")[1] for ch in CHAPTERS if ch.name == chapter for f in ch.functions}
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    stubs = re.compile(r"(\w+) is yours to write")
    allowed = re.compile(r"NotImplementedError\(\)|^$")  # a "Your turn" cell left as it came
    problems, unset = [], set()  # names that exercise cells stopped by a stub did not set
    for index, cell in enumerate(nb.cells):
        for out in (o for o in cell.get("outputs", []) if o.output_type == "error"):
            stub = stubs.search(out.evalue)
            missing = re.fullmatch(r"name '(\w+)' is not defined", out.evalue)
            if out.ename == "NotImplementedError" and (
                    (stub and stub.group(1) in own) or (not stub and allowed.search(out.evalue))):
                unset |= _assigned(cell.source)
            elif not (out.ename == "NameError" and missing and missing.group(1) in unset):
                problems.append(f"cell {index}: {out.ename}: {out.evalue[:200]}\n"
                                f"{cell.source[:300]}")
    assert not problems, f"{chapter}: errors outside its exercises:\n" + "\n\n".join(problems)
