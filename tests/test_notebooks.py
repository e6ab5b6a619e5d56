"""Every instructor notebook runs top to bottom on the reference package, with its figures."""

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
