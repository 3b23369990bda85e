"""Worker processes exit when the process that started them dies.

A run killed with SIGKILL (a timeout, the OOM killer, a cancelled container) cannot stop its
workers, and a worker busy with queued batches does not notice: two embedding workers were
seen to live on for minutes, 600 MB each, still computing. Each worker watches its parent
instead: once it has been re-parented, the process that fed it is gone, and it exits.

A thread that polls is used rather than Linux's PR_SET_PDEATHSIG, which fires when the *thread*
that started the worker ends: a pool started by one step's thread and reused by the next would
lose its workers.
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 1.0
EXIT_CODE = 70
"""What a worker that outlived its parent exits with (nobody is left to read it)."""


def exit_with_parent(poll_seconds: float = POLL_SECONDS) -> None:
    """In a worker process: exit at once (no clean-up, nothing to hand results to) within
    `poll_seconds` of its parent's death."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(EXIT_CODE)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
