"""Stacks of the continuous sampler: tuples of code keys (leaf first), cut to a unit's own frames.

A stack is read by walking ``f_back`` from the thread's current frame up to the unit's entry frame
(the adapter's or decorator's frame, which is the SDK's own), skipping the SDK's frames on the way. The
tuple holds one ``CodeKey`` per frame: hashing and storing it costs no string work; a code object becomes a
call-tree frame (function, file, line, is_app) once per code object, in the background thread.

Why keys and not the code objects themselves: a code object's hash is not cached and walks its name,
bytecode and constants (about 0.5 us each), so a 40-frame stack cost ~20 us to hash, at every sample and
again when merged into a window. A ``CodeKey`` hashes by identity; there is one per code object (found by
``id(code)``, the key holding the code so the id is not reused).
"""

from __future__ import annotations

from types import CodeType, FrameType

from ..calltree import _SDK_DIRS, Frame, is_app_file


class CodeKey:
    """One code object as it goes into stacks: hashed and compared by identity."""

    __slots__ = ("code", "sdk")

    def __init__(self, code: CodeType, sdk: bool) -> None:
        self.code = code
        self.sdk = sdk  # the SDK's own frame: left out of stacks

    def __repr__(self) -> str:
        return f"<CodeKey {self.code.co_name}>"


# A stack as filed: code keys leaf first (str for the synthetic nodes below).
Stack = tuple[CodeKey | str, ...]

OTHER = "[other]"  # stacks beyond an endpoint's cap of distinct stacks are merged here
NOT_SEEN = "[stack not seen]"  # a sample charged to a unit whose frames were not on the thread (no entry found)
MAX_CODES = 65536  # code made at run time (exec) must not pile up: beyond, keys are made per sample

_keys: dict[int, CodeKey] = {}  # id(code) -> its key
_frames: dict[CodeKey | str, Frame] = {}


def key_of(code: CodeType) -> CodeKey:
    """The code object's one key (made on first sight)."""
    key = _keys.get(id(code))  # a cached key holds its code: the id is not reused while it is cached
    if key is None:
        key = CodeKey(code, code.co_filename.startswith(_SDK_DIRS))
        if len(_keys) < MAX_CODES:
            _keys[id(code)] = key
    return key


def code_of(entry: CodeKey | str) -> CodeType | str:
    """A stack entry's code object (or the synthetic node's name)."""
    return entry.code if isinstance(entry, CodeKey) else entry


def stack_of(frame: FrameType | None, entry: FrameType | None) -> Stack:
    """The stack from ``frame`` up to (not including) ``entry``, SDK frames left out. Without ``entry``
    on the way (a unit's code run from elsewhere: a WSGI body's next()) the whole stack, SDK frames left out."""
    keys: list[CodeKey | str] = []
    append = keys.append
    known = _keys.get
    try:
        while frame is not None and frame is not entry:
            code = frame.f_code
            key = known(id(code))
            if key is None:
                key = key_of(code)
            if not key.sdk:
                append(key)
            frame = frame.f_back
    except AttributeError:  # another thread's frame read while that thread moved on (seen once on 3.11: a dict)
        return (NOT_SEEN,)
    return tuple(keys)


def frame_of(entry: CodeKey | str) -> Frame:
    """(identifier, function, file, line, is_app) of a stack entry, made once per code key."""
    frame = _frames.get(entry)
    if frame is None:
        if isinstance(entry, str):
            frame = (entry, entry, "", 0, False)
        else:
            code = entry.code
            name = getattr(code, "co_qualname", code.co_name)
            frame = (f"{name}\x00{code.co_filename}\x00{code.co_firstlineno}", name, code.co_filename,
                     code.co_firstlineno, is_app_file(code.co_filename))
        if len(_frames) < MAX_CODES:
            _frames[entry] = frame
    return frame
