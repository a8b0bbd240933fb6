"""Run a search step in a forked child that is killed at its deadline.

OR-Tools can, on rare models, spend minutes in constraint propagation before its own time
limit is consulted (we saw `ReadAssignmentFromRoutes` never return). A store cannot wait,
so the OR-Tools step runs in a child process that is killed when its time is up; the
parent keeps its best plan. Where `fork` is unavailable the step runs in-process.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from typing import Any, Callable


# How often the parent looks at the stop event while the child works.
_STOP_POLL_S = 0.1


def run_with_deadline(fn: Callable[[], Any], deadline: float, stop=None) -> tuple[bool, Any]:
    """(True, fn()) if it finished before `deadline` (a perf_counter time), else (False, None);
    `stop` (a threading.Event), once set, ends the wait as the deadline does."""
    if not hasattr(os, "fork"):
        return True, fn()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, send, leave without running the parent's cleanup
        os.close(read_fd)
        try:
            payload = pickle.dumps((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as a failure
            payload = pickle.dumps((False, repr(exc)))
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    finished = False
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or (stop is not None and stop.is_set()):
                break
            ready, _, _ = select.select([pipe], [], [], min(left, _STOP_POLL_S) if stop is not None else left)
            if not ready:
                if stop is None or time.perf_counter() >= deadline:
                    break
                continue
            chunk = pipe.read(1 << 16)
            if not chunk:
                finished = True
                break
            chunks.append(chunk)
    if not finished:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if not finished or not chunks:
        return False, None
    ok, value = pickle.loads(b"".join(chunks))
    return (True, value) if ok else (False, None)
