"""An attempt's output: the tail an attempt keeps, read from a buffer or a file, and peeked at while a command
writes to it (live output)."""

from __future__ import annotations

import os
from typing import IO

from ..conf import settings
from ..storable import clean_text


def tail(text: str) -> str:
    limit = settings.OUTPUT_LIMIT
    return text if len(text) <= limit else text[-limit:]


def read_tail(f: IO[bytes]) -> str:
    """The end of a finished output file."""
    limit = settings.OUTPUT_LIMIT
    f.seek(0, 2)
    size = f.tell()
    f.seek(max(0, size - 4 * limit))
    return tail(clean_text(f.read().decode("utf-8", "replace")))  # NUL would not fit a command's result


def peek_tail(f: IO[bytes]) -> str:
    """The end of an output file a child process is still writing: read with pread, which leaves the file
    offset alone (the child shares it: moving it would move where the child writes next)."""
    limit = settings.OUTPUT_LIMIT
    fd = f.fileno()
    size = os.fstat(fd).st_size
    start = max(0, size - 4 * limit)
    return tail(clean_text(os.pread(fd, size - start, start).decode("utf-8", "replace")))
