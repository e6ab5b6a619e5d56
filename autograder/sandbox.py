"""Starting the worker that runs the student's code: its isolation, its limits, its pipes.

Isolation (CNNLAB_SANDBOX, or the `isolation` argument):

- "bwrap" — bubblewrap: new user, PID, network, IPC, UTS and cgroup namespaces (no network), a
  read-only view of the Python installation and of a copy of the student's `cnnlab` only, a private
  /tmp, no capabilities, uid/gid 65534 (nobody). Requested but unavailable: an error, never a
  quiet fallback.
- "process" — a separate process with a scrubbed environment, an empty working directory and a
  copy of the package; run as uid/gid 65534 when the grader is root. Student code can still read
  what that user can read: use it where bwrap cannot run.
- "auto" (default) — bwrap when it works on this machine, else "process".

Every worker: `python -I -S` (no PYTHON* variables, user site, .pth files or script folder on
sys.path), sys.path = the copy's folder + the environment's site-packages, and rlimits on CPU time,
address space and file size; the grader adds a wall-time limit per call and keeps only the first
bytes of what the student's code prints.
"""

import errno
import hashlib
import os
import resource
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import worker as wire

WORKER_SCRIPT = Path(wire.__file__).resolve()
NOBODY = 65534
INSIDE = "/grade"  # where the sandbox sees the worker's files
SCRATCH = "/scratch"  # the worker's home and working folder in the sandbox: empty, private


class GradingError(Exception):
    """The grader itself cannot grade (no reference, no sandbox, no worker): stop, grade nothing."""


@dataclass
class Limits:
    call_seconds: float = 120.0  # wall time of one call (a cold Numba compile included)
    start_seconds: float = 60.0  # wall time until the worker answers its first message
    cpu_seconds: int = 900  # CPU time of one worker over its life
    memory_bytes: int = 4 << 30  # address space (Numba/LLVM and NumPy need ~1 GiB)
    file_bytes: int = 256 << 20  # largest file the worker may write
    output_bytes: int = 64 << 10  # of the student's prints, kept for diagnostics
    package_bytes: int = 64 << 20  # largest package copied into the worker

    @classmethod
    def from_env(cls):
        """The defaults; CNNLAB_CALL_TIMEOUT (seconds) sets the wall time of one call."""
        limits = cls()
        if os.environ.get("CNNLAB_CALL_TIMEOUT"):
            limits.call_seconds = float(os.environ["CNNLAB_CALL_TIMEOUT"])
        return limits


def python_roots():
    """Folders the worker's interpreter needs: its installation, the venv, site-packages."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix),
             Path(sys.executable).parent, Path(os.path.realpath(sys.executable)).parent.parent}
    paths |= {Path(os.path.realpath(p)) for p in site_dirs()}
    paths = sorted(p.resolve() for p in paths if p.exists())
    return [p for p in paths if not any(q != p and q in p.parents for q in paths)]


def site_dirs():
    return [d for d in site.getsitepackages() if os.path.isdir(d)]


def numba_cache(package):
    """A Numba cache folder for the workers of one package folder (each submission its own):
    later gradings of the same code skip the compile. Only that package's workers write it."""
    root = Path(os.environ.get("CNNLAB_WORKER_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "cnnlab" / "worker-numba")
    folder = root / hashlib.sha256(str(Path(package).resolve()).encode()).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def worker_env(home, cache=None):
    """A scrubbed environment: nothing of the grader's but thread counts and Numba switches."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0", "NUMBA_CACHE_DIR": cache or f"{home}/numba-cache",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/matplotlib"}
    for name, value in os.environ.items():
        if name.endswith("_NUM_THREADS") or name.startswith("NUMBA_"):
            env.setdefault(name, value)
    if os.environ.get("CNNLAB_NO_JIT") == "1":  # grade --no-jit: the student's kernels as Python
        env["NUMBA_DISABLE_JIT"] = "1"
    return env


def bwrap_base():
    """bwrap's namespaces (no network), uid/gid nobody, no capabilities, and a read-only view of
    the system's libraries and the Python installation; /proc, /dev and a private /tmp."""
    command = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL",
               "--uid", str(NOBODY), "--gid", str(NOBODY), "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        command += ["--ro-bind-try", path, path]
    # The private /tmp first: a Python environment that lives under /tmp (a CI clone's venv) is
    # then bound on top of it instead of being hidden by it.
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", SCRATCH]
    for root in python_roots():
        if root != Path("/usr") and Path("/usr") not in root.parents:
            command += ["--ro-bind", str(root), str(root)]
    return command


def _bwrap_command(work, inner, cache=None):
    command = bwrap_base() + ["--ro-bind", str(work / "grade"), INSIDE, "--chdir", SCRATCH]
    if cache is not None:
        command += ["--bind", str(cache), "/numba-cache"]
    return command + inner


@cache
def bwrap_problem():
    """Why bwrap cannot run a worker here ("" when it can)."""
    if shutil.which("bwrap") is None:
        return "bwrap (bubblewrap) is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "grade").mkdir()
        done = subprocess.run(_bwrap_command(work, [sys.executable, "-I", "-S", "-c", "pass"]),
                              capture_output=True, text=True, env=worker_env("/tmp"), timeout=60)
    if done.returncode:
        return f"bwrap fails here: {(done.stderr or done.stdout).strip()[:300]}"
    return ""


@cache
def run_as_nobody():
    """Whether the process fallback can drop to uid nobody (root, and nobody can run Python)."""
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], capture_output=True,
                              cwd="/", env=worker_env("/tmp"), timeout=60, user=NOBODY,
                              group=NOBODY, extra_groups=[])
    except OSError:
        return False
    return done.returncode == 0


def choose_isolation(requested=None):
    """'bwrap' or 'process' (see the module's docstring); GradingError if bwrap was asked for and
    cannot run."""
    requested = requested or os.environ.get("CNNLAB_SANDBOX") or "auto"
    if requested not in ("auto", "bwrap", "process"):
        raise GradingError(f"CNNLAB_SANDBOX={requested!r}: use auto, bwrap or process")
    if requested == "process":
        return "process"
    problem = bwrap_problem()
    if requested == "bwrap" and problem:
        raise GradingError(f"the bwrap sandbox was requested (CNNLAB_SANDBOX=bwrap) but {problem}")
    return "process" if problem else "bwrap"


def describe_isolation(isolation):
    if isolation == "bwrap":
        return ("bwrap sandbox (no network, read-only Python and package copy only, "
                "private /tmp, uid nobody)")
    who = "uid nobody" if run_as_nobody() else "the grader's own uid"
    return f"separate process only (scrubbed environment, empty working folder, {who})"


def copy_package(source, dest, limit):
    """Copy the regular files of package folder `source` to `dest` (no symlinks, no caches)."""
    total = 0
    dest.mkdir(parents=True)
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.is_symlink() or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            total += copy_package(Path(entry.path), dest / entry.name, limit - total)
        elif entry.is_file():
            total += entry.stat().st_size
            if total > limit:
                raise GradingError(f"the package {source} is larger than {limit >> 20} MiB")
            shutil.copy2(entry.path, dest / entry.name)
            os.chmod(dest / entry.name, 0o644)
    os.chmod(dest, 0o755)
    return total


class WorkerTimeout(Exception):
    pass


class Drain(threading.Thread):
    """Reads a pipe to its end, keeping the first `limit` bytes and counting the rest."""

    def __init__(self, fd, limit):
        super().__init__(daemon=True)
        self.fd, self.limit, self.head, self.total = fd, limit, bytearray(), 0
        self.start()

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if len(self.head) < self.limit:
                self.head += chunk[: self.limit - len(self.head)]
        os.close(self.fd)

    def text(self):
        more = self.total - len(self.head)
        return self.head.decode(errors="replace") + (f"\n... ({more} more bytes)" if more else "")


class WorkerProcess:
    """One worker: started with `start()`, asked with `request()`, ended with `stop()`."""

    def __init__(self, package, limits, isolation):
        self.package, self.limits, self.isolation = Path(package), limits, isolation
        self.process = self.output = None
        self.work = Path(tempfile.mkdtemp(prefix="cnnlab-worker-"))

    def _preexec(self):
        for kind, value in ((resource.RLIMIT_CPU, self.limits.cpu_seconds),
                            (resource.RLIMIT_AS, self.limits.memory_bytes),
                            (resource.RLIMIT_FSIZE, self.limits.file_bytes),
                            (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(kind, (value, value))

    def start(self):
        """Launch the worker and wait for its greeting (GradingError if it does not come)."""
        self.launch()
        self.greet()

    def launch(self):
        """Start the worker process; `greet()` waits until it is ready."""
        grade = self.work / "grade"
        copy_package(self.package, grade / "package" / "cnnlab", self.limits.package_bytes)
        shutil.copy2(WORKER_SCRIPT, grade / "worker.py")
        os.chmod(grade, 0o755)
        os.chmod(grade / "package", 0o755)
        os.chmod(self.work, 0o755)
        to_worker, self._requests = os.pipe()
        self._replies, from_worker = os.pipe()
        out_read, out_write = os.pipe()
        root = INSIDE if self.isolation == "bwrap" else str(grade)
        inner = [sys.executable, "-I", "-S", "-X", "faulthandler", f"{root}/worker.py",
                 str(to_worker), str(from_worker), f"{root}/package", *site_dirs()]
        extra = {}
        if self.isolation == "bwrap":
            # The sandbox sees the package at the same path every time: a cache that persists.
            command = _bwrap_command(self.work, inner, numba_cache(self.package))
            home, cache = SCRATCH, "/numba-cache"
        else:
            home = self.work / "home"
            home.mkdir()
            command, cwd = inner, home
            if run_as_nobody():
                os.chown(home, NOBODY, NOBODY)
                extra = dict(user=NOBODY, group=NOBODY, extra_groups=[])
            os.chmod(home, 0o700)
            extra["cwd"] = cwd
            home, cache = str(home), None
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out_write, stderr=out_write,
                pass_fds=(to_worker, from_worker), env=worker_env(home, cache),
                preexec_fn=self._preexec, start_new_session=True, **extra)
        except OSError as error:
            raise GradingError(f"the grading worker could not start: {error}") from None
        finally:
            for fd in (to_worker, from_worker, out_write):
                os.close(fd)
        os.set_blocking(self._requests, False)
        self.output = Drain(out_read, self.limits.output_bytes)

    def greet(self):
        try:
            hello, _ = self._receive(self.limits.start_seconds)
        except (WorkerTimeout, EOFError, wire.ProtocolError) as error:
            self.stop()
            self.output.join(1)
            raise GradingError(
                f"the grading worker ({self.isolation}) did not start ({error}): "
                + (self.output.text().strip().splitlines() or ["no output"])[-1][:300]
            ) from None
        if "hello" not in hello:
            self.stop()
            raise GradingError("the grading worker did not greet")

    def _deadline_read(self, deadline):
        def read(fd, n):
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerTimeout()
                ready, _, _ = select.select([fd], [], [], left)
                if ready:
                    return os.read(fd, n)
        return read

    def _send(self, data, deadline):
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerTimeout()
            _, ready, _ = select.select([], [self._requests], [], left)
            if ready:
                try:
                    view = view[os.write(self._requests, view):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise EOFError("the worker closed its pipe") from None

    def _receive(self, seconds):
        parts = wire.read_parts(self._replies, self._deadline_read(time.monotonic() + seconds))
        return wire.unpack(parts), parts

    def request(self, data, seconds):
        """Send framed `data`; the reply (message, parts). WorkerTimeout, EOFError (the worker
        died) or wire.ProtocolError otherwise."""
        self._send(data, time.monotonic() + seconds)
        return self._receive(seconds)

    def stop(self):
        """Kill the worker (and everything it started); its exit status as text."""
        status = ""
        if self.process is not None:
            if self.process.poll() is None:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except OSError as error:
                    if error.errno != errno.ESRCH:
                        raise
            status = _status(self.process.wait())
            for fd in (self._requests, self._replies):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.process = None
        shutil.rmtree(self.work, ignore_errors=True)
        return status

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def exit_status(self, wait=1.0):
        """The exit status of a worker that ended by itself (waiting up to `wait` s)."""
        try:
            code = self.process.wait(wait)
        except subprocess.TimeoutExpired:
            return ""
        return _status(code)


def _status(code):
    """'exit code 3', 'signal SIGSEGV' (bwrap reports a child's signal as exit code 128 + n)."""
    number = -code if code < 0 else code - 128 if 128 < code < 160 else 0
    try:
        name = signal.Signals(number).name if number else ""
    except ValueError:
        name = f"signal {number}"
    if code < 0:
        return f"signal {name}"
    return f"exit code {code}" + (f" (signal {name})" if name else "")

