"""Where a task waits: its whole chain of awaits (coroutines, async generators, the future at the end), which
`Task.print_stack` does not show (it gives only the outermost coroutine's frame)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

_DEPTH = 60


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """One line per frame the task is suspended in, outermost first, then what the innermost one awaits."""
    lines: list[str] = []
    obj: Any = task.get_coro()
    for _ in range(_DEPTH):
        frame = (
            getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        )
        if frame is not None:
            code = frame.f_code
            lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}")
        nxt = _awaited(obj)
        if nxt is None:
            break
        if isinstance(nxt, asyncio.Future):
            lines.append(f"  awaits {nxt!r}")
            inner = _shielded(nxt)
            if not isinstance(inner, asyncio.Task):
                break
            lines.append(f"  which shields {inner!r}")
            nxt = inner.get_coro()
        obj = nxt
    return lines


def _shielded(fut: asyncio.Future[Any]) -> Any:
    """The future an `asyncio.shield` outer future stands for (kept in its done callback's closure)."""
    for cb, _ in getattr(fut, "_callbacks", None) or ():
        for cell in getattr(cb, "__closure__", None) or ():
            with contextlib.suppress(ValueError):
                if isinstance(cell.cell_contents, asyncio.Future) and cell.cell_contents is not fut:
                    return cell.cell_contents
    return None


def _awaited(obj: Any) -> Any:
    for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
        nxt = getattr(obj, attr, None)
        if nxt is not None:
            return nxt
    if type(obj).__name__ == "FutureIter":  # `await future`
        for ref in gc.get_referents(obj):
            if isinstance(ref, asyncio.Future):
                return ref
    if type(obj).__name__ in ("async_generator_asend", "async_generator_athrow"):
        # `async for` awaits one of these; it keeps its generator but does not expose it
        for ref in gc.get_referents(obj):
            if type(ref).__name__ == "async_generator":
                return ref
    return None
