"""Progress bars and followed output for the ``weft_*`` commands (weft_batch, weft_status --watch,
weft_result --stream): a bar redrawn in place on a terminal, plain lines otherwise, JSON lines with --json."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.management.base import OutputWrapper

from .cli import to_json

CLEAR = "\r\x1b[K"  # back to the start of the line and erase it: the bar is redrawn, never scrolled


def bar(done: int, total: int, width: int = 30) -> str:
    """``[#########.....]  3/10`` (a job of no tasks is complete)."""
    filled = width if total <= 0 else min(width, done * width // total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def is_terminal(out: OutputWrapper) -> bool:
    return bool(out.isatty())


class Follower:
    """Prints the events of ``reports.follow``: a running attempt's new output as it comes (each line
    prefixed ``[key #attempt]`` when the job has several tasks), and the job's progress (a bar redrawn
    on ``progress``'s line when it is a terminal, else a line per change). With ``as_json`` each event
    is one JSON line on stdout."""

    def __init__(self, stdout: OutputWrapper, stderr: OutputWrapper, progress: OutputWrapper, *,
                 as_json: bool, prefix: bool) -> None:
        self.stdout, self.stderr, self.progress = stdout, stderr, progress
        self.as_json, self.prefix = as_json, prefix
        self.live = not as_json and is_terminal(progress)
        self.drawn = ""
        self.last: dict[str, Any] = {}

    def _clear(self) -> None:
        if self.live and self.drawn:
            self.progress.write(CLEAR, ending="")
            self.drawn = ""

    def _draw(self) -> None:
        if self.live and self.last:
            self.drawn = f"job {self.last['status']} {bar(self.last['done'], self.last['total'])}"
            self.progress.write(self.drawn, ending="")
            self.progress.flush()

    def event(self, e: dict[str, Any]) -> None:
        if self.as_json:
            self.stdout.write(to_json(e))
            self.stdout.flush()
            return
        if e["event"] == "output":
            self._clear()
            out = self.stdout if e["stream"] == "stdout" else self.stderr
            text = e["text"]
            if self.prefix:
                head = f"[{e['key']} #{e['attempt']}] "
                text = "".join(head + line for line in text.splitlines(keepends=True))
            out.write(text, ending="")
            out.flush()
            self._draw()
        elif e["event"] == "progress":
            self.last = e
            if self.live:
                self._clear()
                self._draw()
            else:
                self.progress.write(f"job {e['status']}: {e['done']}/{e['total']} tasks done")
        else:
            self.finish()

    def finish(self) -> None:
        if self.live and self.drawn:
            self.progress.write("")  # keep the last bar, end its line
            self.drawn = ""

    def run(self, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Print every event; the last one (``end`` or ``timeout``)."""
        last: dict[str, Any] = {}
        try:
            for e in events:
                self.event(e)
                last = e
        finally:
            self.finish()
        return last
