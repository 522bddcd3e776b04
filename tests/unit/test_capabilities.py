"""Routing by capability and the bodies of the agents' claim API: the pure rules (capabilities.py, agent_bodies.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_policy import subject
from weft_django import agent_bodies, capabilities
from weft_django.agent_loop import Ran, command_for, outcome
from weft_django.exceptions import InvalidInput, WeftError
from weft_django.management.commands.weft_worker import capability_list
from weft_django.policy.apply import apply_task
from weft_django.policy.engine import evaluate
from weft_django.policy.rules import parse_rule
from weft_django.spec import TaskSpec

LABELS = st.sampled_from(["gpu", "cuda", "python3.12", "arm64", "big-mem", "x_y"])


def refused(call: Any, *args: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        call(*args)
    return info.value


def test_capabilities__labels_are_sorted_once_and_checked_naming_the_label() -> None:
    assert capabilities.parse(["python3.12", "gpu", "gpu"], "capabilities") == ("gpu", "python3.12")
    assert capabilities.parse(None, "capabilities") == ()
    for bad, field in (("gpu", "capabilities"), ([1], "capabilities[0]"), (["a b"], "capabilities[0]"),
                       (["gpu", "x+y"], "capabilities[1]"), (["-gpu"], "capabilities[0]"),
                       (["a" * 31], "capabilities[0]"),
                       (["nul\x00"], "capabilities[0]"), (["\ud800"], "capabilities[0]"),
                       (["a", "b", "c", "d", "e"], "capabilities")):
        assert refused(capabilities.parse, bad, "capabilities").field == field, bad


def test_capabilities__a_task_requiring_some_goes_to_the_routed_queue_of_its_sorted_set() -> None:
    assert capabilities.routed_queue("weft", ["python3.12", "gpu"]) == "weft+gpu+python3.12"
    assert capabilities.routed_queue("weft", []) == "weft"
    assert capabilities.base_queue("weft+gpu+python3.12") == "weft"
    assert capabilities.required_of("weft+gpu+python3.12") == ("gpu", "python3.12")
    assert capabilities.base_queue("weft") == "weft" and capabilities.required_of("weft") == ()


@given(st.sets(LABELS, max_size=capabilities.MAX_WORKER), st.sets(LABELS, max_size=capabilities.MAX_REQUIRED))
def test_capabilities__a_worker_reads_the_routed_queue_of_a_task_exactly_when_its_labels_cover_it(
        has: set[str], required: set[str]) -> None:
    read = capabilities.worker_queues(["weft"], has)
    assert (capabilities.routed_queue("weft", required) in read) == capabilities.covers(has, required)
    assert len(read) == 2 ** len(has)  # the queue itself and one routed queue per non-empty subset
    assert all(len(q) <= 255 for q in read)


def test_capabilities__every_subset_of_two_queues_is_read() -> None:
    assert capabilities.worker_queues(["a", "b"], ["gpu", "cuda"]) == [
        "a", "b", "a+cuda", "a+gpu", "a+cuda+gpu", "b+cuda", "b+gpu", "b+cuda+gpu"]


def test_capabilities__the_longest_routed_queue_fits_a_broker_and_the_task_column() -> None:
    labels = [f"{c}" * capabilities.MAX_LABEL for c in "abcd"]
    assert len(capabilities.routed_queue("q" * 100, labels)) <= 255


def test_capabilities__weft_worker_refuses_a_bad_label_or_too_many_in_one_line() -> None:
    assert capability_list("gpu, python3.12") == ["gpu", "python3.12"]
    import argparse

    for bad in ("gpu,a b", "a,b,c,d,e,f,g", "x+y"):
        with pytest.raises(argparse.ArgumentTypeError):
            capability_list(bad)


def test_capabilities__a_spec_refuses_them_naming_the_field() -> None:
    assert TaskSpec.parse({"skill": "t.noop", "capabilities": ["gpu"]}).capabilities == ("gpu",)
    assert refused(TaskSpec.parse, {"skill": "t.noop", "capabilities": ["g pu"]}, "tasks[2]").field == (
        "tasks[2].capabilities[0]")


def test_capabilities__a_policy_route_keeps_the_task_on_the_routed_queue_of_its_new_queue() -> None:
    slow = evaluate([parse_rule({"name": "slow", "effects": {"queue": "slow"}}, "rules[0]")], subject())
    out, changes = apply_task(slow, {"queue": "weft+gpu", "capabilities": ["gpu"], "limits": {}})
    assert out["queue"] == "slow+gpu"
    assert [c.as_dict() for c in changes] == [{"field": "queue", "from": "weft", "to": "slow"}]
    same = evaluate([parse_rule({"name": "same", "effects": {"queue": "weft"}}, "rules[0]")], subject())
    kept, none = apply_task(same, {"queue": "weft+gpu", "capabilities": ["gpu"], "limits": {}})
    assert (kept["queue"], none) == ("weft+gpu", [])


# ---------------------------------------------------------------- the claim API's bodies


@pytest.mark.parametrize(("body", "field"), [
    ([], ""), ({}, "name"), ({"name": "a", "bogus": 1}, "bogus"), ({"name": 5}, "name"), ({"name": "a@host"}, "name"),
    ({"name": "a\x00"}, "name"), ({"name": "\udc00"}, "name"), ({"name": "a" * 101}, "name"),
    ({"name": "a", "capabilities": "gpu"}, "capabilities"),
    ({"name": "a", "capabilities": ["g\x00"]}, "capabilities[0]"),
    ({"name": "a", "capabilities": ["x"] * 51}, "capabilities"),
])
def test_agent_bodies__a_bad_registration_is_refused_naming_the_field(body: Any, field: str) -> None:
    assert refused(agent_bodies.registration, body).field == field


@pytest.mark.parametrize(("body", "field"), [
    ({"skills": "t.echo"}, "skills"), ({"skills": []}, "skills"), ({"skills": [3]}, "skills[0]"),
    ({"skills": ["\ud800"]}, "skills[0]"), ({"pid": "1"}, "pid"), ({"pid": 0}, "pid"), ({"pid": 2**40}, "pid"),
    ({"pid": True}, "pid"), ({"other": 1}, "other"),
])
def test_agent_bodies__a_bad_claim_is_refused_naming_the_field(body: Any, field: str) -> None:
    assert refused(agent_bodies.claim_request, body).field == field


@pytest.mark.parametrize(("body", "field"), [
    ({"token": 1}, "task"), ({"task": 1}, "token"), ({"task": "1", "token": 1}, "task"),
    ({"task": 0, "token": 1}, "task"),
    ({"task": 2**64, "token": 1}, "task"), ({"task": 1, "token": 2**31}, "token"), ({"task": 1, "token": 1.5}, "token"),
    ({"task": 1, "token": 1, "stdout": 5}, "stdout"), ({"task": 1, "token": 1, "stderr": "\x00"}, "stderr"),
])
def test_agent_bodies__a_bad_heartbeat_is_refused_naming_the_field(body: Any, field: str) -> None:
    assert refused(agent_bodies.heartbeat, body, 100).field == field


GOOD = {"task": 1, "token": 1, "outcome": "succeeded"}


@pytest.mark.parametrize(("extra", "field"), [
    ({"outcome": "done"}, "outcome"), ({"outcome": None}, "outcome"), ({"result": {"a": "\x00"}}, "result.a"),
    ({"result": float("nan")}, "result"), ({"error": "x" * 10_001}, "error"), ({"error": 3}, "error"),
    ({"error_type": "no spaces"}, "error_type"), ({"retryable": "yes"}, "retryable"), ({"exit_code": 256}, "exit_code"),
    ({"exit_code": "0"}, "exit_code"), ({"stdout": "\udfff"}, "stdout"), ({"stdout": "x" * 1_000_001}, "stdout"),
    ({"duration": -1}, "duration"), ({"duration": float("inf")}, "duration"), ({"cost": -0.5}, "cost"),
    ({"bogus": 1}, "bogus"),
])
def test_agent_bodies__a_bad_report_is_refused_naming_the_field(extra: dict[str, Any], field: str) -> None:
    assert refused(agent_bodies.report, {**GOOD, **extra}, 100).field == field


def test_agent_bodies__a_report_is_what_the_runner_would_have_observed() -> None:
    held, obs = agent_bodies.report({**GOOD, "result": {"n": 1}, "stdout": "abcdef", "exit_code": 0}, 3)
    assert (held.task, held.token, obs.outcome.kind, obs.outcome.value) == (1, 1, "success", {"n": 1})
    assert obs.stdout == "def"  # the tail
    _, failed = agent_bodies.report({**GOOD, "outcome": "failed", "error": "boom", "retryable": False}, 10)
    assert (failed.attempt_outcome, failed.error_type, failed.outcome.retryable) == ("failed", "AgentFailed", False)
    _, cancelled = agent_bodies.report({**GOOD, "outcome": "cancelled"}, 10)
    assert cancelled.attempt_outcome == "cancelled"


# ---------------------------------------------------------------- weft_agent's command line


def test_agent_loop__params_fill_the_template_one_element_each_and_never_an_option() -> None:
    task = {"task": 1, "skill": "t.gpu_echo", "params": {"text": "a b; rm -rf /"}, "argv": ["echo", "x"]}
    assert command_for(["printf", "%s", "{text}"], task) == ["printf", "%s", "a b; rm -rf /"]
    assert command_for(None, task) == ["echo", "x"]
    with pytest.raises(InvalidInput, match="must not start with '-'"):
        command_for(["rm", "{text}"], {**task, "params": {"text": "-rf"}})
    assert command_for(["echo", "--", "{text}"], {**task, "params": {"text": "-n"}}) == ["echo", "--", "-n"]
    with pytest.raises(InvalidInput):
        command_for(["{text}"], task)  # the program is fixed
    with pytest.raises(WeftError):
        command_for(None, {**task, "argv": None})


def test_agent_loop__what_the_command_did_becomes_the_report() -> None:
    assert outcome(["x"], Ran(0, "", "out", "", 1.0))["outcome"] == "succeeded"
    assert outcome(["x"], Ran(3, "", "", "err", 1.0))["error"] == "x exited with status 3"
    assert outcome(["x"], Ran(None, "cancelled", "", "", 1.0))["outcome"] == "cancelled"
    lost = outcome(["x"], Ran(-9, "lease_lost", "", "", 1.0))
    assert (lost["outcome"], lost["error_type"]) == ("failed", "Stopped")
