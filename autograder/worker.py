"""The student's side of grading: a worker process that imports the submitted `cnnlab` and serves
calls from the grading suite, which runs in another process and never imports it.

This one file is both the wire format (used by the trusted side, `autograder.remote`) and the
worker program (run as a script, `python -I -S worker.py ...`, inside the sandbox). It needs only
the standard library and NumPy, so that the worker imports nothing of the grader.

Wire format: a message is a list of parts, sent as a 4-byte part count, then each part as an
8-byte length and its bytes. Part 0 is JSON; arrays travel as further parts in NumPy's .npy format,
written and read with allow_pickle=False (object arrays are refused). Nothing is ever unpickled or
evaluated. JSON holds None, bools, ints, floats and strings as themselves and tags everything
else: {"l": [...]} a list, {"t": [...]} a tuple, {"d": [[key, value], ...]} a dict, {"a": i} the
array in part i, {"s": i} a NumPy scalar (a 0-d array in part i), {"h": id, ...} an object that
stays in the worker behind a handle (a module, function, or anything the student's code made);
in requests, {"h": id} names such an object and {"p": [names]} an attribute path of the package.

Requests (trusted side → worker): {"op": "get" | "set" | "call", "h": handle or None (the
package), "path": [attribute names], "args", "kwargs" (call), "value" (set), "release": [handles
no longer used]}.
Replies: {"value": ...} or {"error": {"type", "message", "traceback": [lines]}}.
"""

import io
import json
import struct
import sys


def drop_privileges():
    """In a sandbox whose processes start as root of the grader's own user namespace
    (autograder.sandbox.nobody_namespace), become uid/gid CNNLAB_WORKER_UID (nobody) before
    anything else runs."""
    import os

    uid = int(os.environ.get("CNNLAB_WORKER_UID") or -1)
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid,) * 3 or os.getresgid() != (uid,) * 3:
            raise SystemExit(f"the worker could not become uid {uid}")


if __name__ == "__main__":
    import os

    drop_privileges()
    if sys.argv[1:] == ["--probe"]:  # autograder.sandbox: can a worker start here?
        sys.exit(0)
    # -I -S: no PYTHON* variables, no user site, no .pth files, no script folder on sys.path.
    # First the folder that holds only the copy of `cnnlab`, then the environment's packages.
    sys.path[:0] = [sys.argv[3]]
    sys.path += [d for d in sys.argv[4:] if d not in sys.path]
    # The forbidden libraries the sandbox holds only as empty folders (sandbox.HIDDEN_LIBRARIES):
    # importing one raises ImportError, as where it is not installed (Numba probes for SciPy).
    for name in filter(None, os.environ.get("CNNLAB_HIDDEN_LIBRARIES", "").split(",")):
        sys.modules[name] = None

import numpy as np  # noqa: E402

MAX_MESSAGE = 1 << 30  # bytes; a bigger reply is refused, not read
MAX_PARTS = 100_000


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


# --- framing ---------------------------------------------------------------------------------


def _read_exact(fd, n, read):
    chunks, left = [], n
    while left:
        chunk = read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_parts(fd, read):
    """One message as a list of byte strings; `read(fd, n)` returns at most n bytes."""
    (count,) = struct.unpack(">I", _read_exact(fd, 4, read))
    if not 1 <= count <= MAX_PARTS:
        raise ProtocolError(f"a message of {count} parts")
    parts, total = [], 0
    for _ in range(count):
        (size,) = struct.unpack(">Q", _read_exact(fd, 8, read))
        total += size
        if total > MAX_MESSAGE:
            raise ProtocolError(f"a message of more than {MAX_MESSAGE} bytes")
        parts.append(_read_exact(fd, size, read))
    return parts


def frame(parts):
    out = [struct.pack(">I", len(parts))]
    for part in parts:
        out += [struct.pack(">Q", len(part)), part]
    return b"".join(out)


# --- values ----------------------------------------------------------------------------------


def array_bytes(array):
    if array.dtype.hasobject:
        raise TypeError(f"an array of dtype {array.dtype} (Python objects) cannot be sent")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array) if array.ndim else array, allow_pickle=False)
    return buffer.getvalue()


def bytes_array(data):
    buffer = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buffer)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(buffer)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(buffer)
        else:
            raise ProtocolError(f"an .npy version {version}")
        if dtype.hasobject:
            raise ProtocolError(f"an array of dtype {dtype} (Python objects)")
        buffer.seek(0)
        array = np.load(buffer, allow_pickle=False)
    except ProtocolError:
        raise
    except Exception as error:
        raise ProtocolError(f"not a valid .npy array: {error}") from None
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ProtocolError("not a valid .npy array")
    return array


def encode(value, arrays, other):
    """`value` as JSON-able data; arrays appended to `arrays`; anything else → other(value)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value
    if kind is list:
        return {"l": [encode(v, arrays, other) for v in value]}
    if kind is tuple:
        return {"t": [encode(v, arrays, other) for v in value]}
    if kind is dict:
        return {"d": [[encode(k, arrays, other), encode(v, arrays, other)]
                      for k, v in value.items()]}
    if kind is np.ndarray:
        arrays.append(array_bytes(value))
        return {"a": len(arrays)}
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        arrays.append(array_bytes(np.asarray(value)))
        return {"s": len(arrays)}
    return other(value)


def decode(data, parts, handle):
    """The inverse of `encode`: `handle(node)` turns a {"h": ...} node into a local object."""
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is not dict or len(data) < 1:
        raise ProtocolError(f"unexpected JSON value {type(data).__name__}")
    if "l" in data:
        return [decode(v, parts, handle) for v in _list(data["l"])]
    if "t" in data:
        return tuple(decode(v, parts, handle) for v in _list(data["t"]))
    if "d" in data:
        out = {}
        for pair in _list(data["d"]):
            key, value = _list(pair)
            key = decode(key, parts, handle)
            try:
                out[key] = decode(value, parts, handle)
            except TypeError:
                raise ProtocolError("an unhashable dict key") from None
        return out
    if "a" in data or "s" in data:
        index = data.get("a", data.get("s"))
        if type(index) is not int or not 1 <= index < len(parts):
            raise ProtocolError("an array reference out of range")
        array = bytes_array(parts[index])
        if "s" in data:
            if array.ndim:
                raise ProtocolError("a scalar that is not 0-d")
            return array[()]
        return array
    if "h" in data or "p" in data:
        return handle(data)
    raise ProtocolError(f"unknown tag in {sorted(data)[:3]}")


def _list(value):
    if type(value) is not list:
        raise ProtocolError("expected a JSON list")
    return value


def pack(message, arrays):
    body = json.dumps(message, allow_nan=True).encode()
    return frame([body, *arrays])


def unpack(parts):
    try:
        message = json.loads(parts[0])
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"not valid JSON: {error}") from None
    if type(message) is not dict:
        raise ProtocolError("a message must be a JSON object")
    return message


# --- the worker program ----------------------------------------------------------------------


class Worker:
    """Serves requests on fd `requests`, replies on fd `replies`; `package` is the folder whose
    `cnnlab` it imports (imported at the first request, so that an import error is that
    request's error)."""

    def __init__(self, package_parent):
        self.package_parent = package_parent
        self.objects = {}  # handle -> object
        self.ids = {}  # id(object) -> handle
        self.next_handle = 1

    def root(self):
        import importlib

        return importlib.import_module("cnnlab")

    def handle(self, obj):
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = self.next_handle
            self.objects[self.next_handle] = obj
            self.next_handle += 1
        h = self.ids[key]
        kind = type(obj)
        return {"h": h, "type": f"{kind.__module__}.{kind.__qualname__}",
                "module": isinstance(obj, type(sys)), "callable": callable(obj)}

    def release(self, handles):
        for h in handles:
            obj = self.objects.pop(h, None)
            if obj is not None:
                self.ids.pop(id(obj), None)

    def resolve(self, request):
        h = request.get("h")
        obj = self.root() if h is None else self.objects[h]
        for name in request.get("path", []):
            try:
                obj = getattr(obj, name)
            except AttributeError:
                if not isinstance(obj, type(sys)):
                    raise
                import importlib

                obj = importlib.import_module(f"{obj.__name__}.{name}")
        return obj

    def local(self, node):
        if "p" in node:
            return self.resolve({"path": node["p"]})
        return self.objects[node["h"]]

    def serve(self, request, parts):
        self.release(request.get("release", []))
        op = request.get("op")
        if op == "ping":
            return None
        if op == "set":
            *path, name = request["path"]
            value = decode(request.get("value"), parts, self.local)
            setattr(self.resolve({"h": request.get("h"), "path": path}), name, value)
            return None
        target = self.resolve(request)
        if op == "get":
            return target
        if op == "call":
            args = decode(request.get("args", {"t": []}), parts, self.local)
            kwargs = decode(request.get("kwargs", {"d": []}), parts, self.local)
            return target(*args, **kwargs)
        raise ValueError(f"unknown request {op!r}")

    def error(self, exc):
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if f.filename.startswith(self.package_parent)]
        lines = []
        for f in mine or frames[-1:]:
            name = f.filename[len(self.package_parent):].lstrip("/") if mine else f.filename
            lines.append(f'File "{name}", line {f.lineno}, in {f.name}')
            if f.line:
                lines.append(f"    {f.line.strip()}")
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else (
            f"{kind.__module__}.{kind.__qualname__}")
        try:
            message = str(exc)
        except Exception:
            message = "<the exception's message could not be printed>"
        builtin = next(c.__name__ for c in kind.__mro__ if c.__module__ == "builtins")
        return {"type": name, "builtin": builtin, "message": message[:20_000],
                "traceback": lines[-40:]}

    def run(self, requests, replies):
        import os

        def write(data):
            view = memoryview(data)
            while view:
                view = view[os.write(replies, view):]

        try:  # what any student's package imports first: loaded while the grader gets ready
            import numba  # noqa: F401
        except ImportError:
            pass
        write(pack({"hello": sys.version.split()[0], "pid": os.getpid()}, []))
        while True:
            try:
                parts = read_parts(requests, os.read)
            except EOFError:
                return
            request = unpack(parts)
            arrays = []
            try:
                value = self.serve(request, parts)
                reply = {"value": encode(value, arrays, self.handle)}
            except BaseException as exc:  # the student's exceptions, SystemExit included
                arrays = []
                reply = {"error": self.error(exc)}
            for stream in (sys.stdout, sys.stderr):  # the student's prints, call by call
                try:
                    stream.flush()
                except Exception:
                    pass
            write(pack(reply, arrays))


def main(argv):
    """worker.py REQUESTS_FD REPLIES_FD PACKAGE_PARENT [SITE_DIR ...]"""
    requests, replies, package_parent = int(argv[1]), int(argv[2]), argv[3]
    Worker(package_parent.rstrip("/") + "/").run(requests, replies)


if __name__ == "__main__":
    main(sys.argv)
