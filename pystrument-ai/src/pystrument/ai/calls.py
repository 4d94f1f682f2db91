"""What the rules know about calls: blocking I/O and costly standard-library work, recognised by frame.

Frames are matched on the function name and on the end of the file path, never on an install prefix
(the server does not know where the application's Python lives). Built-in (C) functions have the file
``<built-in>`` and a name like ``Connection.execute``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pystrument.core.calltree import THREAD

from .tree import Frame

# kind of blocking work -> what to use instead inside async code
BLOCKING_FIXES = {
    "sleep": "use `await asyncio.sleep(...)` instead of `time.sleep(...)`",
    "db": "use an async driver (aiosqlite, asyncpg, motor, redis.asyncio) or run the query in a thread with `await asyncio.to_thread(...)`",
    "network": "use an async client (httpx.AsyncClient, aiohttp) or `await asyncio.to_thread(...)`",
    "file": "read/write files with `await asyncio.to_thread(...)` (or aiofiles)",
    "subprocess": "use `asyncio.create_subprocess_exec(...)`",
    "lock": "use an `asyncio.Lock`, or move the locked work to a thread",
}

_DB_METHODS = {"execute", "executemany", "executescript", "fetchone", "fetchall", "fetchmany", "commit", "rollback", "callproc"}
_NET_BUILTINS = {
    "socket.recv", "socket.recv_into", "socket.recvfrom", "socket.send", "socket.sendall", "socket.connect",
    "socket.accept", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection",
    "_SSLSocket.read", "_SSLSocket.write", "_SSLSocket.do_handshake", "SSLSocket.read", "SSLSocket.write",
}
_FILE_BUILTINS = {
    "open", "BufferedReader.read", "BufferedReader.readline", "BufferedWriter.write", "BufferedWriter.flush",
    "TextIOWrapper.read", "TextIOWrapper.readline", "TextIOWrapper.write", "FileIO.read", "FileIO.write",
    "fsync", "stat", "listdir", "scandir",
}
_WAIT_BUILTINS = {"select", "poll", "epoll.poll", "waitpid", "wait"}
_LOCK_BUILTINS = {"lock.acquire", "Lock.acquire", "RLock.acquire", "_thread.lock.acquire"}

# Python-level library entry points that block (matched on a path component), by kind
_BLOCKING_LIBS = (
    ("/requests/", "network"), ("/urllib3/", "network"), ("/http/client.py", "network"),
    ("/urllib/request.py", "network"), ("/httpx/_client.py", "network"), ("/pymongo/", "db"),
    ("/psycopg2/", "db"), ("/pymysql/", "db"), ("/MySQLdb/", "db"), ("/subprocess.py", "subprocess"),
    ("/pystrument/core/spans/sql_sqlite.py", "db"),  # sqlite3's Connection/Cursor as the SDK's spans subclass them
)
# frames that run their callees in another thread (anywhere above the call), and the event loop's own
# non-blocking I/O (only between the application's code and the call: the loop running the unit is above it)
_OTHER_THREAD = ("/concurrent/futures/thread.py", "/threading.py", "/anyio/to_thread.py", "/starlette/concurrency.py")
_LOOP_IO = ("/asyncio/", "/anyio/", "/redis/asyncio/", "/uvloop/")


def path_has(frame: Frame, *parts: str) -> bool:
    file = frame.node.file.replace("\\", "/")
    return any(part in file for part in parts)


def blocking_kind(frame: Frame) -> str | None:
    """The kind of blocking work this frame does on the calling thread, or None."""
    name = frame.function
    if frame.is_builtin:
        if name == "sleep":
            return "sleep"
        cls, _, method = name.rpartition(".")
        if method in _DB_METHODS and cls.lower().endswith(("connection", "cursor")):
            return "db"
        if name in _NET_BUILTINS:
            return "network"
        if name in _FILE_BUILTINS:
            return "file"
        if name in _LOCK_BUILTINS:
            return "lock"
        if name in _WAIT_BUILTINS:
            return "network" if name != "waitpid" else "subprocess"
        return None
    if frame.is_app:
        return None
    file = frame.node.file.replace("\\", "/")
    if "/redis/" in file and "/redis/asyncio/" not in file:
        return "db"
    if "/psycopg/" in file and "async" not in file and not name.startswith("Async"):
        return "db"
    for part, kind in _BLOCKING_LIBS:
        if part in file:
            return kind
    return None


def in_non_blocking_context(frame: Frame) -> bool:
    """In a worker thread, or inside the event loop's own I/O code called from the application.

    A worker thread is known for sure under the SDK's ``[thread]`` node; in older records (no such
    node) from the thread pools' frames above the call.
    """
    below_app = True
    for ancestor in frame.ancestors():
        if ancestor.function == THREAD:
            return True
        if ancestor.is_app:
            below_app = False
            continue
        if path_has(ancestor, *_OTHER_THREAD):
            return True
        if below_app and path_has(ancestor, *_LOOP_IO):
            return True
    return False


def topmost_blocking(frames: list[Frame]) -> list[tuple[Frame, str]]:
    """The blocking frames that are not inside another blocking frame, with their kind."""
    out: list[tuple[Frame, str]] = []
    for frame in frames:
        kind = blocking_kind(frame)
        if kind is None:
            continue
        if any(blocking_kind(a) is not None for a in frame.ancestors()):
            continue
        out.append((frame, kind))
    return out


@dataclass(frozen=True)
class CostlyPattern:
    key: str
    title: str
    suggestion: str
    saving_factor: float  # share of the time a fix is expected to save
    confidence: float

    def matches(self, frame: Frame) -> bool:
        return _MATCHERS[self.key](frame)


def _regex_compile(frame: Frame) -> bool:
    # actual compilation (a cache miss): the parser / compiler modules, not the cache lookup in re._compile
    return path_has(frame, "/re/_compiler.py", "/re/_parser.py", "/sre_compile.py", "/sre_parse.py")


def _json_encode(frame: Frame) -> bool:
    return path_has(frame, "/json/encoder.py") or (path_has(frame, "/json/__init__.py") and frame.function in ("dumps", "dump"))


def _json_decode(frame: Frame) -> bool:
    return path_has(frame, "/json/decoder.py") or (path_has(frame, "/json/__init__.py") and frame.function in ("loads", "load"))


def _deepcopy(frame: Frame) -> bool:
    return path_has(frame, "/copy.py") and (frame.function == "deepcopy" or frame.function.startswith("_deepcopy"))


def _import(frame: Frame) -> bool:
    file = frame.node.file
    return file.startswith("<frozen importlib._bootstrap") or path_has(frame, "/importlib/_bootstrap", "/importlib/__init__.py")


_MATCHERS = {
    "regex_compile": _regex_compile,
    "json_encode": _json_encode,
    "json_decode": _json_decode,
    "deepcopy": _deepcopy,
    "import": _import,
}

COSTLY_PATTERNS = (
    CostlyPattern(
        "regex_compile", "Regular expressions compiled on the request path",
        "Compile each pattern once at module level (`PATTERN = re.compile(...)`) and reuse it; for many words "
        "build one alternation pattern. `re`'s own cache holds only a few hundred patterns, so patterns built "
        "from data are recompiled on every call.",
        0.9, 0.8,
    ),
    CostlyPattern(
        "json_encode", "JSON encoding of large objects",
        "Encode the object once and reuse the bytes (cache them until the data changes), send less data, or "
        "use a faster encoder (msgspec.json / orjson, typically 5-10x faster than the json module).",
        0.7, 0.6,
    ),
    CostlyPattern(
        "json_decode", "JSON decoding of large documents",
        "Decode once and keep the result, decode only the part you need, or use msgspec.json / orjson "
        "(with a typed schema msgspec also validates in the same pass).",
        0.6, 0.5,
    ),
    CostlyPattern(
        "deepcopy", "copy.deepcopy on the request path",
        "Avoid deep copies in loops: copy once outside the loop, copy only what you change (a shallow "
        "`dict(x)` / `list(x)`), or keep shared data immutable (tuples, frozen dataclasses, MappingProxyType).",
        0.8, 0.7,
    ),
    CostlyPattern(
        "import", "Module imported inside the handler",
        "Move the import to module level (or warm it up at startup) so no request pays for it; an import "
        "inside a function runs the module's top-level code the first time, in every worker process.",
        1.0, 0.7,
    ),
)
