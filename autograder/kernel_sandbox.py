"""The notebook kernel of `nbgrader autograde`, in the same bwrap sandbox as the grading worker.

Autograde executes each student's notebook, and with it the student's `cnnlab` (imported by the
notebook) and any code the student put in a cell. Unconfined, that code runs with the
instructor's permissions: it could read `solutions/` into its output (the feedback HTML), or write
into other submissions and the gradebook. `SandboxedExecute` (nbgrader's Execute with this kernel
manager) starts the kernel inside bwrap: no network (the kernel talks to nbgrader over Unix
sockets, ZMQ's ipc transport, in a folder of its own), uid nobody, a read-only view of the Python
installation, of the grader's `autograder` package and of the submission's folder only, a private
/tmp as home, and no CNNLAB_REFERENCE.

Without bwrap (isolation "process") the kernel runs as nbgrader starts it, and the trusted report
says so; a requested bwrap that is missing raises GradingError (the submission is not graded).
Either way the kernel has the worker's rlimits (CPU time, address space, file size).

The kernel's run is the learner's view, never the score (TrustedGrade decides it): when the
kernel dies (os._exit, a segfault) or a cell times out (an endless loop), the rest of the notebook
is not run, and the graded cells still get their trusted points; a cell's printed output is
kept to its first `MAX_STREAM` characters.
"""

import functools
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute

from .sandbox import Limits, bwrap_base, choose_isolation, set_limits

MAX_STREAM = 64 << 10  # characters of a cell's printed output kept

AUTOGRADER = Path(__file__).resolve().parent


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs inside bwrap, reached over ipc sockets."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sandboxed = choose_isolation() == "bwrap"
        self._sockets = None
        if self.sandboxed:
            self._sockets = Path(tempfile.mkdtemp(prefix="cnnlab-kernel-"))
            self._sockets.chmod(0o755)
            self.transport = "ipc"
            self.ip = str(self._sockets / "k")

    async def _async_pre_start_kernel(self, **kw):
        command, kw = await super()._async_pre_start_kernel(**kw)
        kw["preexec_fn"] = functools.partial(set_limits, Limits.from_env())
        if not self.sandboxed:
            return command, kw
        cwd = Path(kw.get("cwd") or Path.cwd()).resolve()
        wrapper = bwrap_base() + [
            "--ro-bind", str(cwd), str(cwd),
            "--ro-bind", str(AUTOGRADER), str(AUTOGRADER),
            "--bind", str(self._sockets), str(self._sockets),
            "--ro-bind", self.connection_file, self.connection_file,
            "--chdir", str(cwd), "--setenv", "HOME", "/tmp",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib", "--setenv", "TMPDIR", "/tmp",
            "--unsetenv", "CNNLAB_REFERENCE", "--unsetenv", "JUPYTER_RUNTIME_DIR",
            "--unsetenv", "JUPYTER_DATA_DIR", "--unsetenv", "IPYTHONDIR",
            # ipykernel would take the sandbox's PID 1 for a dead parent; bwrap ends the kernel
            # with nbgrader instead (--die-with-parent).
            "--unsetenv", "JPY_PARENT_PID",
        ]
        return wrapper + command, kw

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if self._sockets is not None and not restart:
            shutil.rmtree(self._sockets, ignore_errors=True)


class SandboxedExecute(Execute):
    """nbgrader's Execute (its settings: c.Execute.timeout, ...) with the sandboxed kernel."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self.stopped = ""

    def preprocess(self, nb, resources=None, km=None):
        self.stopped = ""  # why the rest of the notebook is not run
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self.stopped:
            cell.outputs = [new_output("stream", name="stdout",
                                       text=f"(not run: {self.stopped})\n")]
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.stopped = "the notebook's kernel died in an earlier cell"
            cell.outputs.append(new_output(
                "error", ename="DeadKernelError", evalue="the kernel died running this cell",
                traceback=["DeadKernelError: the kernel died running this cell (a crash, "
                           "os._exit or a limit); the rest of the notebook was not run"]))
        except CellTimeoutError:  # no reply, or no output after the cell's time (it hung)
            cell.outputs.append(new_output(
                "error", ename="CellTimeoutError", evalue="no answer from the kernel",
                traceback=[f"CellTimeoutError: this cell gave no answer within {self.timeout} "
                           "s; the rest of the notebook was not run"]))
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self.stopped = f"a cell ran longer than {self.timeout} s"
        for output in cell.outputs:
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            if len(text) > MAX_STREAM:
                output["text"] = (text[:MAX_STREAM] + f"\n... ({len(text) - MAX_STREAM} more "
                                  "characters not kept)\n")
        return cell, resources
