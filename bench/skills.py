"""The bench skill for (d): the same no-op body as the other systems' tasks."""

from __future__ import annotations

from bench import sidechannel
from weft_django import skill

PARAMS = {"type": "object", "properties": {"stamp": {"type": "boolean"}, "target": {"type": "integer"}}}


@skill(name="bench.noop", params=PARAMS)
def noop(stamp: bool = False, target: int = 0) -> None:
    sidechannel.body(stamp, target)


# For the governance scenario (bench/weft_governance.py): limits that hold across every worker.
@skill(name="bench.limited2", concurrency=2)
def limited2(seconds: float = 0.01) -> None:
    import time

    time.sleep(seconds)


@skill(name="bench.rated", rate="20/s")
def rated() -> None:
    return None
