"""(c) procrastinate's no-op task, registered on the Django integration's app."""

from __future__ import annotations

from procrastinate.contrib.django import app

from bench import sidechannel


@app.task(name="bench.noop")
def noop(stamp: bool = False, target: int = 0) -> None:
    sidechannel.body(stamp, target)
