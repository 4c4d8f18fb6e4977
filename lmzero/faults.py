"""Fault injection for the reliability suite: a run that kills itself at a chosen write.

Every durable write of a run (`checkpoint.write_atomic`, `checkpoint.save`) calls `published`
after its data is on disk and before the rename that makes it visible. With `LMZERO_KILL_AT=N`
in the environment the N-th such call sends the process SIGKILL, which is the worst moment to
die: the new version is complete but unpublished, a temporary is left behind, and everything
after it is lost. `LMZERO_WRITE_LOG=FILE` appends each call's path to FILE, which is how a
test learns how many writes a run makes and which one is which. Unset (always, outside tests),
both cost one dictionary lookup per write.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

KILL_AT = "LMZERO_KILL_AT"
WRITE_LOG = "LMZERO_WRITE_LOG"
_writes = 0


def published(path: Path) -> None:
    """A durable write of `path` is about to be renamed into place."""
    global _writes
    if KILL_AT not in os.environ and WRITE_LOG not in os.environ:
        return
    _writes += 1
    if os.environ.get(WRITE_LOG):
        with open(os.environ[WRITE_LOG], "a") as log:
            log.write(f"{_writes}\t{path}\n")
    if os.environ.get(KILL_AT) == str(_writes):
        os.kill(os.getpid(), signal.SIGKILL)
