"""Stacks of the continuous sampler: tuples of code objects (leaf first), cut to a unit's own frames.

A stack is read by walking ``f_back`` from the thread's current frame up to the unit's entry frame
(the adapter's or decorator's frame, which is the SDK's own), skipping the SDK's frames on the way. The
tuple holds code objects only: hashing and storing it costs no string work; a code object becomes a
call-tree frame (function, file, line, is_app) once per code object, in the background thread.
"""

from __future__ import annotations

from types import CodeType, FrameType

from ..calltree import _SDK_DIRS, Frame, is_app_file

# A stack as filed: code objects leaf first (str for the synthetic nodes below).
Stack = tuple[CodeType | str, ...]

OTHER = "[other]"  # stacks beyond an endpoint's cap of distinct stacks are merged here
NOT_SEEN = "[stack not seen]"  # a sample charged to a unit whose frames were not on the thread (no entry found)

_sdk_code: dict[CodeType, bool] = {}
_frames: dict[CodeType | str, Frame] = {}


def _is_sdk(code: CodeType) -> bool:
    sdk = _sdk_code.get(code)
    if sdk is None:
        sdk = code.co_filename.startswith(_SDK_DIRS)
        if len(_sdk_code) < 65536:  # code made at run time (exec) must not pile up here
            _sdk_code[code] = sdk
    return sdk


def stack_of(frame: FrameType | None, entry: FrameType | None) -> Stack:
    """The stack from ``frame`` up to (not including) ``entry``, SDK frames left out. Without ``entry``
    on the way (a unit's code run from elsewhere: a WSGI body's next()) the whole stack, SDK frames left out."""
    codes: list[CodeType | str] = []
    append = codes.append
    sdk_code = _sdk_code
    while frame is not None and frame is not entry:
        code = frame.f_code
        sdk = sdk_code.get(code)
        if sdk is None:
            sdk = _is_sdk(code)
        if not sdk:
            append(code)
        frame = frame.f_back
    return tuple(codes)


def frame_of(code: CodeType | str) -> Frame:
    """(identifier, function, file, line, is_app) of a stack entry, made once per code object."""
    frame = _frames.get(code)
    if frame is None:
        if isinstance(code, str):
            frame = (code, code, "", 0, False)
        else:
            name = getattr(code, "co_qualname", code.co_name)
            frame = (f"{name}\x00{code.co_filename}\x00{code.co_firstlineno}", name, code.co_filename,
                     code.co_firstlineno, is_app_file(code.co_filename))
        if len(_frames) < 65536:
            _frames[code] = frame
    return frame
