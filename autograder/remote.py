"""The trusted side's view of the student's package: proxies that forward to the worker.

`StudentSession(package).root()` has the surface of the student's `cnnlab`:
`student.edges.correlate2d(image, kernel, mode)` sends the call to the worker and returns its
result as plain data (numbers, strings, None, lists/tuples/dicts, NumPy arrays); module constants
read the same way (`student.edges.SOBEL_X` is an array). Anything else the student's code returns
(an object, a layer, a model) stays in the worker and comes back as a `Remote` handle whose
attribute reads, attribute writes, method calls, `len`, `[]` and `iter` are forwarded.

The student's exceptions come back as their type name, message and traceback lines, raised here as
a `StudentError` that is also the builtin class of that name (a student's ValueError satisfies
`pytest.raises(ValueError)`), reading like the original: "NotImplementedError: ... is yours to
write". A worker that hangs (no answer within the call's wall time) or dies fails the call with
`StudentTimeout` / `WorkerCrashed` and is replaced by a fresh one at the next call: one test pays.
"""

import builtins
import weakref

from . import worker as wire
from .sandbox import Limits, WorkerProcess, WorkerTimeout, choose_isolation


class StudentError(Exception):
    """An exception raised by the student's code, as its type name, message and traceback."""

    remote_type = "Exception"
    remote_builtin = "Exception"  # the nearest builtin class's name ("ValueError")
    student_traceback = ()

    def __str__(self):
        return self.args[0] if self.args else ""


class StudentTimeout(Exception):
    """The student's code did not answer within the wall time of a call."""


class WorkerCrashed(Exception):
    """The worker running the student's code ended (a crash, os._exit, a limit)."""


for _cls in (StudentTimeout, WorkerCrashed):
    _cls.__module__ = "builtins"  # reads "WorkerCrashed: ..." in the feedback

_BUILTIN_ERRORS = {name: cls for name, cls in vars(builtins).items()
                   if isinstance(cls, type) and issubclass(cls, Exception)}
_classes = {}


def remote_exception(error):
    """A StudentError (subclass of the builtin of that name, if any) from the worker's report."""
    name = str(error.get("type", "Exception"))[:200]
    builtin = str(error.get("builtin", name))
    message = str(error.get("message", ""))[:20_000]
    if (name, builtin) not in _classes:
        # The nearest builtin class of the student's exception (numpy's _ArrayMemoryError is a
        # MemoryError): `except MemoryError` and `pytest.raises(ValueError)` work as in-process.
        base = _BUILTIN_ERRORS.get(builtin) or _BUILTIN_ERRORS.get(name)
        bases = (StudentError, base) if base else (StudentError,)
        try:
            cls = type(name, bases, {"__module__": "builtins", "__qualname__": name})
            cls(message)
        except TypeError:  # a builtin whose constructor wants more (UnicodeDecodeError)
            cls = type(name, (StudentError,), {"__module__": "builtins", "__qualname__": name})
        cls.remote_type = name
        cls.remote_builtin = builtin
        _classes[name, builtin] = cls
    exc = _classes[name, builtin](message)
    exc.student_traceback = tuple(str(line)[:500] for line in error.get("traceback", [])[:40])
    return exc


class StudentSession:
    """The student's package in a worker process, restarted after a crash or a hang."""

    def __init__(self, package, isolation=None, limits=None):
        self.package = package
        self.isolation = choose_isolation(isolation)
        self.limits = limits or Limits.from_env()
        self.worker = None
        self._launched = None  # a worker launched ahead of need, not yet greeted
        self.generation = 0  # bumped at every worker replacement; handles of older ones are dead
        self.timed_out = {}  # path of a call that hung -> message (it is not waited for again)
        self.counts = {}  # handle -> Remote objects holding it
        self.released = []
        self.starts = 0
        self.kinds = {}  # path -> (type, module, callable) of the package's modules and functions
        self.recording = None  # a list: every call of the package is appended (see `request`)

    def launch(self):
        """Start a worker's process, not waiting for it (it imports NumPy and Numba meanwhile)."""
        if self.worker is None and self._launched is None:
            worker = WorkerProcess(self.package, self.limits, self.isolation)
            worker.launch()
            self._launched = worker

    def start(self):
        """A ready worker (GradingError if none can start)."""
        if self.worker is None:
            worker, self._launched = self._launched, None
            if worker is None:
                worker = WorkerProcess(self.package, self.limits, self.isolation)
                worker.launch()
            worker.greet()
            self.worker = worker
            self.starts += 1
        return self.worker

    def close(self):
        launched, self._launched = self._launched, None
        if launched is not None:
            launched.stop()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
            self.generation += 1
            self.counts.clear()
            self.released.clear()
            self.kinds.clear()

    def root(self):
        return Remote(self, None, ())

    def output(self):
        """What the current worker printed (its first bytes)."""
        return self.worker.output.text() if self.worker else ""

    def _lost(self, problem):
        worker, self.worker = self.worker, None
        self.generation += 1
        self.kinds.clear()
        self.counts.clear()
        self.released.clear()
        status = worker.exit_status(1.0) if problem == "died" else ""
        status = worker.stop() if not status else (worker.stop() and status)
        worker.output.join(1)
        lines = worker.output.text().strip().splitlines()
        fatal = [line for line in lines if line.startswith("Fatal Python error")]
        return status, "\n".join(line[:300] for line in (fatal or lines)[-3:])

    def request(self, op, h, path, args=(), kwargs=None, value=None, generation=None):
        """Send one request; while `recording` is a list, a call of a function of the package
        is appended to it as an `autograder.mistakes.Call` (its arguments and the outcome)."""
        if self.recording is None or op != "call" or h is not None:
            return self._request(op, h, path, args, kwargs, value, generation)
        from .mistakes import Call, encode_call

        encoded = encode_call(args, kwargs)
        try:
            result = self._request(op, h, path, args, kwargs, value, generation)
        except StudentError as error:
            self.recording.append(Call(tuple(path), encoded, ("error", error.remote_builtin)))
            raise
        except (StudentTimeout, WorkerCrashed):
            self.recording.append(Call(tuple(path), encoded, ("crash", None)))
            raise
        plain = encode_call((result,), {}) is not None
        self.recording.append(Call(tuple(path), encoded if plain else None, ("value", result)))
        return result

    def _request(self, op, h, path, args=(), kwargs=None, value=None, generation=None):
        if h is not None and generation != self.generation:
            raise WorkerCrashed("this object lived in a worker that has since been stopped "
                                "(after a crash or a timeout in an earlier call)")
        key = ".".join(path)
        if h is None and key in self.timed_out:
            raise StudentTimeout(self.timed_out[key])
        worker = self.start()
        arrays = []
        message = {"op": op, "h": h, "path": list(path), "release": self.released}
        if op == "call":
            message["args"] = wire.encode(tuple(args), arrays, self._argument)
            message["kwargs"] = wire.encode(dict(kwargs or {}), arrays, self._argument)
        elif op == "set":
            message["value"] = wire.encode(value, arrays, self._argument)
        data = wire.pack(message, arrays)
        self.released = []
        seconds = self.limits.call_seconds
        try:
            reply, parts = worker.request(data, seconds)
            if "error" not in reply:
                if "value" not in reply:
                    raise wire.ProtocolError("a reply without a value")
                return self._decode(reply["value"], parts)
        except WorkerTimeout:
            self._lost("hung")
            text = f"{key or 'the call'} gave no answer within {seconds:g} s (an endless loop?)"
            if h is None:
                self.timed_out[key] = text + "; not called again in this grading run"
            raise StudentTimeout(text) from None
        except (EOFError, OSError, wire.ProtocolError) as error:
            status, tail = self._lost("died")
            why = f"the worker running your code ended ({status or error})"
            if isinstance(error, wire.ProtocolError):
                why = f"the worker running your code sent an invalid reply ({error})"
            raise WorkerCrashed(why + (f"; its last output:\n{tail}" if tail else "")) from None
        if type(reply["error"]) is not dict:
            raise WorkerCrashed("the worker running your code sent an invalid error report")
        raise remote_exception(reply["error"])

    def _decode(self, value, parts):
        try:
            return wire.decode(value, parts, self._remote)
        except wire.ProtocolError:
            raise
        except (ValueError, TypeError, KeyError, RecursionError, MemoryError) as error:
            raise wire.ProtocolError(f"a malformed value ({type(error).__name__})") from None

    def _argument(self, value):
        if isinstance(value, Remote) and value._h is not None:
            if value._generation != self.generation:
                raise WorkerCrashed("an object of a worker that has since been stopped")
            return {"h": value._h}
        if isinstance(value, Remote):
            return {"p": list(value._path)}
        raise TypeError(f"a {type(value).__name__} cannot be sent to the student's code "
                        "(only numbers, strings, None, lists, tuples, dicts and NumPy arrays)")

    def _remote(self, node):
        h = node.get("h")
        if type(h) is not int:
            raise wire.ProtocolError("a handle that is not an int")
        return Remote(self, h, (), str(node.get("type", "object"))[:200],
                      module=node.get("module") is True, is_callable=node.get("callable") is True)

    def _hold(self, h):
        self.counts[h] = self.counts.get(h, 0) + 1

    def _drop(self, h, generation):
        if generation == self.generation and h in self.counts:
            self.counts[h] -= 1
            if self.counts[h] <= 0:
                del self.counts[h]
                self.released.append(h)


class Remote:
    """A module, function or object of the student's package, living in the worker.

    Reached from the package by attribute names (`_h` None, `_path` the names): survives worker
    restarts, resolved again in the new worker. Made by the student's code (`_h` a handle): valid
    in the worker that made it only.
    """

    __slots__ = ("_session", "_h", "_path", "_type", "_module", "_callable", "_generation",
                 "__weakref__")

    def __init__(self, session, h, path, type_name="module", module=True, is_callable=False):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_h", h)
        object.__setattr__(self, "_path", tuple(path))
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_generation", session.generation)
        if h is not None:
            session._hold(h)
            weakref.finalize(self, session._drop, h, session.generation)

    def _ask(self, op, path, **kw):
        return self._session.request(op, self._h, path, generation=self._generation, **kw)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # no protocol probing (copy, pickle, numpy) of the worker
        path = (*self._path, name)
        session = self._session
        if self._h is None and path in session.kinds:  # known in this worker: no round trip
            return Remote(session, None, path, *session.kinds[path])
        value = self._ask("get", path)
        if isinstance(value, Remote) and self._h is None and (value._module or value._callable):
            # A module or function of the package: name it by its path, valid in any worker.
            session.kinds[path] = (value._type, value._module, value._callable)
            return Remote(session, None, path, *session.kinds[path])
        return value

    def __setattr__(self, name, value):
        self._ask("set", (*self._path, name), value=value)

    def __call__(self, *args, **kwargs):
        return self._ask("call", self._path, args=args, kwargs=kwargs)

    def _method(self, name, *args):
        return self._ask("call", (*self._path, name), args=args)

    def __len__(self):
        return self._method("__len__")

    def __getitem__(self, key):
        return self._method("__getitem__", key)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        where = ".".join(["cnnlab", *self._path]) if self._h is None else f"handle {self._h}"
        return f"<student's {self._type} {where}>"
