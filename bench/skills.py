"""The bench skill for (d): the same no-op body as the other systems' tasks."""

from __future__ import annotations

from bench import sidechannel
from weft_django import skill

PARAMS = {"type": "object", "properties": {"stamp": {"type": "boolean"}, "target": {"type": "integer"}}}


@skill(name="bench.noop", params=PARAMS)
def noop(stamp: bool = False, target: int = 0) -> None:
    sidechannel.body(stamp, target)
