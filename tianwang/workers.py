"""Worker processes that die with the process that started them.

A worker of a process pool left behind by a killed parent keeps its memory, the
store's files and the caller's stdout (so ``tianwang ingest … | tail`` never ends).
:func:`start_worker`, run first in every worker, makes sure that cannot happen:

* on Linux the kernel kills the worker when its parent dies (``PR_SET_PDEATHSIG``);
* everywhere, a daemon thread checks once a second that the parent is still the one
  that started it, and ends the worker at once otherwise;
* the worker ignores SIGINT: Ctrl-C reaches the whole process group, and stopping is the
  parent's decision (it shuts the pool down, each worker finishing its chunk). SIGTERM
  keeps its default: the pool terminates broken workers with it.

:func:`stop_process` ends a child process the caller started (a server in a test or a
benchmark): SIGTERM, a wait, then SIGKILL if it did not stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

__all__ = ["start_worker", "stop_process"]

_PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the parent.
WATCH_SECONDS = 1.0


def start_worker(parent: int) -> None:
    """Tie this worker's life to process ``parent`` (the pid that started it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog alone
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="tianwang-worker-watchdog", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Terminate ``process`` and wait for it; kill it if it is still running after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
