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
address space, file size and processes (a fork bomb); the grader adds a wall-time limit per call
and keeps only the first bytes of what the student's code prints.

A root grader starts bwrap itself as uid nobody (where unprivileged user namespaces work), so the
sandbox's uid is nobody outside it too: RLIMIT_NPROC counts per real uid and never applies to
root, and root's files are not the sandbox's own.
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
    # Processes and threads the worker may add to those its uid has (NumPy's and Numba's
    # thread pools need about two per core).
    processes: int = 128 + 4 * (os.cpu_count() or 1)

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
    later gradings of the same code skip the compile. Only that package's workers see it."""
    root = Path(os.environ.get("CNNLAB_WORKER_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "cnnlab" / "worker-numba")
    folder = root / hashlib.sha256(str(Path(package).resolve()).encode()).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Owned by the uid the worker writes it as: the real nobody (`nobody_namespace`), or the
    # grader's (bwrap's own namespace maps the sandbox's nobody onto it).
    owner = NOBODY if worker_userns() is not None else os.getuid()
    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink() and path.lstat().st_uid != owner:
                os.chown(path, owner, owner)
    return folder


def tasks_of(uid):
    """How many processes and threads of real uid `uid` run now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def worker_env(home, cache=None):
    """A scrubbed environment: nothing of the grader's but thread counts and Numba switches."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0", "NUMBA_CACHE_DIR": cache or f"{home}/numba-cache",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/matplotlib",
           "CNNLAB_HIDDEN_LIBRARIES": ",".join(HIDDEN_LIBRARIES)}
    for name, value in os.environ.items():
        if name.endswith("_NUM_THREADS") or name.startswith("NUMBA_"):
            env.setdefault(name, value)
    if os.environ.get("CNNLAB_NO_JIT") == "1":  # grade --no-jit: the student's kernels as Python
        env["NUMBA_DISABLE_JIT"] = "1"
    return env


HELPER = """import ctypes, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000):  # CLONE_NEWUSER
    sys.exit(1)
sys.stdout.write("x")
sys.stdout.flush()
sys.stdin.read()
"""


@cache
def nobody_namespace():
    """For a root grader: an fd of a user namespace in which uids and gids 0 and 65534 are
    themselves (made once, by a short-lived helper), else None.

    bwrap's own namespace maps the sandbox's uid nobody onto the grader's uid, root, whom
    RLIMIT_NPROC never binds (a fork bomb would be unbounded) and who owns root's files. In this
    one bwrap mounts with root's rights, and the worker then drops to uid nobody itself (`DROP`,
    CNNLAB_WORKER_UID) before anything else runs: the student's code runs as the real nobody.
    """
    if os.geteuid() != 0:
        return None
    try:
        helper = subprocess.Popen([sys.executable, "-I", "-S", "-c", HELPER], cwd="/",
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
    except OSError:
        return None
    try:
        if helper.stdout.read(1) != b"x":
            return None
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{helper.pid}/{name}", "w") as f:
                f.write(f"0 0 1\n{NOBODY} {NOBODY} 1\n")
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY)
    except OSError:
        return None
    finally:
        helper.stdin.close()
        helper.wait()


def bwrap_base(userns=None):
    """bwrap's namespaces (no network), uid/gid nobody, no capabilities, and a read-only view of
    the system's libraries and the Python installation; /proc, /dev and a private /tmp.

    With `userns` (see `nobody_namespace`) bwrap joins that user namespace and leaves the
    sandbox only the capabilities to change uid, for the worker to drop to uid nobody."""
    command = ["bwrap", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if userns is None:
        command += ["--unshare-all", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    else:
        command += ["--userns", str(userns), "--unshare-ipc", "--unshare-pid", "--unshare-net",
                    "--unshare-uts", "--unshare-cgroup-try", "--cap-add", "CAP_SETUID",
                    "--cap-add", "CAP_SETGID"]
    command += ["--ro-bind", "/usr", "/usr"]
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
    command += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
                "--perms", "0777", "--tmpfs", SCRATCH]
    made = {Path("/"), Path("/tmp")}
    for root in python_roots():
        if root != Path("/usr") and Path("/usr") not in root.parents:
            for parent in reversed(root.parents):  # open to all (bwrap would make them 0700)
                if parent not in made:
                    made.add(parent)
                    command += ["--perms", "0755", "--dir", str(parent)]
            command += ["--ro-bind", str(root), str(root)]
    return command


# Libraries that hold what the exercises must write themselves (convolutions, autograd): the
# suites forbid them (`FORBIDDEN`), and the worker's sandbox does not hold them, so that a use the
# static check cannot see (a module name built at run time) fails as well. The notebook kernel
# keeps them: the chapters compare with SciPy and PyTorch.
HIDDEN_LIBRARIES = ("scipy", "torch", "skimage")


def hidden_library_mounts():
    """bwrap arguments that put an empty folder over each of HIDDEN_LIBRARIES in site-packages."""
    return [argument for folder in site_dirs() for name in HIDDEN_LIBRARIES
            if os.path.isdir(os.path.join(folder, name))
            for argument in ("--tmpfs", os.path.join(os.path.realpath(folder), name))]


def _bwrap_command(work, inner, cache=None, userns=None):
    command = bwrap_base(userns) + hidden_library_mounts() + [
        "--ro-bind", str(work / "grade"), INSIDE, "--chdir", SCRATCH]
    if cache is not None:
        command += ["--bind", str(cache), "/numba-cache"]
    return command + inner


@cache
def _bwrap_fails(userns):
    """Why a bwrap worker (in user namespace fd `userns`, or bwrap's own) cannot run here."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "grade").mkdir()
        shutil.copy2(WORKER_SCRIPT, work / "grade" / "worker.py")
        for path in (work, work / "grade", work / "grade" / "worker.py"):
            path.chmod(0o755)
        env = worker_env("/tmp")
        if userns is not None:
            env["CNNLAB_WORKER_UID"] = str(NOBODY)
        try:
            done = subprocess.run(
                _bwrap_command(work, [sys.executable, "-I", "-S", f"{INSIDE}/worker.py", "--probe"],
                               userns=userns),
                capture_output=True, text=True, env=env, timeout=60, cwd="/",
                pass_fds=() if userns is None else (userns,))
        except OSError as error:
            return str(error)
    return (done.stderr or done.stdout or "failed").strip()[:300] if done.returncode else ""


@cache
def worker_userns():
    """The user namespace the bwrap workers join (`nobody_namespace`) where that works, else
    None (bwrap makes its own)."""
    userns = nobody_namespace()
    return userns if userns is not None and not _bwrap_fails(userns) else None


@cache
def bwrap_problem():
    """Why bwrap cannot run a worker here ("" when it can)."""
    if shutil.which("bwrap") is None:
        return "bwrap (bubblewrap) is not installed"
    problem = _bwrap_fails(worker_userns())
    return f"bwrap fails here: {problem}" if problem else ""


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
                "private /tmp, uid nobody" + (")" if worker_userns() is not None or os.geteuid()
                                              else " inside, root's outside)"))
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


def process_limit(limits, uid):
    """RLIMIT_NPROC for a worker running as real uid `uid`: the tasks that uid has now plus
    `limits.processes` (None for root, which the limit never binds)."""
    return None if uid == 0 else tasks_of(uid) + limits.processes


def set_limits(limits, processes=None):
    """The rlimits of a worker (or kernel) process; called in the child before exec."""
    for kind, value in ((resource.RLIMIT_CPU, limits.cpu_seconds),
                        (resource.RLIMIT_AS, limits.memory_bytes),
                        (resource.RLIMIT_FSIZE, limits.file_bytes),
                        (resource.RLIMIT_CORE, 0),
                        (resource.RLIMIT_NPROC, processes)):
        if value is not None:
            resource.setrlimit(kind, (value, value))


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
        set_limits(self.limits, self._processes)

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
            userns = worker_userns()
            command = _bwrap_command(self.work, inner, numba_cache(self.package), userns)
            home, cache = SCRATCH, "/numba-cache"
            extra = {"cwd": "/"} if userns is None else {"cwd": "/", "pass_fds": (userns,)}
            uid = os.getuid() if userns is None else NOBODY
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
            uid = extra.get("user", os.getuid())
        self._processes = process_limit(self.limits, uid)
        env = worker_env(home, cache)
        if uid != os.getuid() and self.isolation == "bwrap":
            env["CNNLAB_WORKER_UID"] = str(uid)  # the worker drops to it first thing
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out_write, stderr=out_write,
                pass_fds=(to_worker, from_worker, *extra.pop("pass_fds", ())), env=env,
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

