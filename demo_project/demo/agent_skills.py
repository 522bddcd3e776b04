"""Agent examples that run offline: a loop asking a model (the fake server scripts/demo.sh starts on 127.0.0.1,
weft_django.fake_model) until its answer passes, and a Plan -> Spec -> Phase cascade of loops."""

from __future__ import annotations

from weft_django import Outcome, llm
from weft_django.loops import Step, loop


def three_lines(answer: str, it: Step) -> tuple[bool, str]:
    """The validation: a haiku has three lines."""
    lines = [line for line in answer.splitlines() if line.strip()]
    return len(lines) == 3, f"{len(lines)} of 3 lines"


@loop(name="demo.haiku", max_iterations=5, validate=three_lines, budget={"tokens": 2000}, params={
    "type": "object", "properties": {"topic": {"type": "string", "minLength": 1}}, "required": ["topic"],
    "additionalProperties": False})
def haiku(it: Step, topic: str) -> str:
    """One iteration: ask the model, with what the earlier iterations were told (a Django template)."""
    reply = llm.chat(llm.render("demo/haiku.txt", {"topic": topic, "it": it}), it=it, system="You write haiku.")
    it.note(f"asked {reply.model}: {reply.input_tokens}+{reply.output_tokens} tokens")
    return reply.text


# The cascade: a plan splits into specs, each spec into phases (decomposition), every level a loop, each level
# joined by a check; the phases iterate until their validation passes.
@loop(name="demo.plan", max_iterations=2, validate=lambda result, it: True)
def plan(it: Step, goal: str = "ship the release", specs: int = 2, phases: int = 2) -> Outcome:
    it.note(f"planned {specs} specs for {goal!r}")
    return Outcome.decompose([{"key": f"spec{i}", "skill": "demo.spec", "params": {"phases": phases}}
                              for i in range(1, specs + 1)], join={"skill": "demo.check"})


@loop(name="demo.spec", max_iterations=2, validate=lambda result, it: True)
def spec(it: Step, phases: int = 2) -> Outcome:
    return Outcome.decompose([{"key": f"phase{i}", "skill": "demo.phase"} for i in range(1, phases + 1)],
                             join={"skill": "demo.check"})


@loop(name="demo.phase", max_iterations=5, validate=lambda result, it: (result >= 2, f"{result} of 2 checks pass"))
def phase(it: Step) -> int:
    it.report_tokens(25)  # what a model call would have used
    return it.number


@loop(name="demo.check", max_iterations=1, validate=lambda result, it: (bool(result), "every part is done"))
def check(it: Step) -> list[str]:
    """The join of a level: the parts it waited for."""
    return sorted(it.ctx.dependencies)

