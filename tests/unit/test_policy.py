"""The policy engine without a database: rule schema (errors naming the field), matching, scopes (the most
specific wins), conflicts, what a verdict changes, time windows at claim, and the YAML file's line numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from weft_django.exceptions import InvalidInput
from weft_django.policy.apply import apply_budget, apply_task
from weft_django.policy.conflicts import conflicts
from weft_django.policy.engine import Subject, at_claim, claim_time, evaluate, in_window, window_end
from weft_django.policy.rules import parse_rule, parse_rules
from weft_django.policy.schema import parse_window
from weft_django.policy.yamlfile import parse_text

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def rule(name: str, effects: dict[str, Any], **match: Any) -> Any:
    return parse_rule({"name": name, "match": match, "effects": effects})


def subject(skill: str = "report.daily", **kw: Any) -> Subject:
    return Subject(skill=skill, **{"queue": "weft", "now": MONDAY_10, **kw})


def refused(data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as exc:
        parse_rules(data, "WEFT_POLICIES")
    return exc.value


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"name": "a b", "effects": {"deny": True}}, "[0].name", "must be 1-100"),
    ({"name": "builtin.x", "effects": {"deny": True}}, "[0].name", "built-in"),
    ({"name": "a"}, "[0].effects", "is required"),
    ({"name": "a", "effects": {}}, "[0].effects", "at least one effect"),
    ({"name": "a", "effects": {"deny": "yes"}}, "[0].effects.deny", "true or false"),
    ({"name": "a", "effects": {"timeout": -1}}, "[0].effects.timeout", "greater than 0"),
    ({"name": "a", "effects": {"limits": {"disk": 1}}}, "[0].effects.limits.disk", "unknown limit"),
    ({"name": "a", "effects": {"budget": {"max_cost": 0}}}, "[0].effects.budget.max_cost", "greater than 0"),
    ({"name": "a", "effects": {"budget": {"max_tokens": 1.5}}}, "[0].effects.budget.max_tokens", "whole number"),
    ({"name": "a", "effects": {"budget": {"max_tokens": 10**16}}}, "[0].effects.budget.max_tokens", "at most"),
    ({"name": "a", "effects": {"queue": "no queue"}}, "[0].effects.queue", "queue name"),
    ({"name": "a", "effects": {"priority": 10}}, "[0].effects.priority", "0 to 9"),
    ({"name": "a", "effects": {"rate": "10/week"}}, "[0].effects.rate", "such as '10/m'"),
    ({"name": "a", "effects": {"concurrency": {"limit": 2}}}, "[0].effects.concurrency.key", "template"),
    ({"name": "a", "effects": {"frobnicate": 1}}, "[0].effects.frobnicate", "unknown key"),
    ({"name": "a", "match": {"tenant": "x"}, "effects": {"deny": True}}, "[0].match.tenant", "unknown key"),
    ({"name": "a", "match": {"skill": []}, "effects": {"deny": True}}, "[0].match.skill", "list of names"),
    ({"name": "a", "match": {"params": {"n": {"bigger": 1}}}, "effects": {"deny": True}}, "[0].match.params.n",
     "one comparison"),
    ({"name": "a", "match": {"window": {"days": "mon-fry"}}, "effects": {"deny": True}}, "[0].match.window.days",
     "not a day"),
    ({"name": "a", "match": {"window": {"from": "9:00"}}, "effects": {"deny": True}}, "[0].match.window.from",
     "HH:MM"),
    ({"name": "a", "match": {"window": {"tz": "Mars/Olympus"}}, "effects": {"deny": True}},
     "[0].match.window.tz", "unknown time zone"),
])
def test_parse_rules__a_malformed_rule_is_refused_naming_its_field(data: dict[str, Any], field: str,
                                                                      words: str) -> None:
    exc = refused([data])
    assert exc.field == f"WEFT_POLICIES{field}" and words in exc.message, (exc.field, exc.message)


def test_parse_rules__names_are_unique_and_disabled_rules_are_left_out() -> None:
    assert "also the name of WEFT_POLICIES[0]" in str(refused([{"name": "a", "effects": {"deny": True}}] * 2))
    rules = parse_rules([{"name": "a", "enabled": False, "effects": {"deny": True}},
                         {"name": "b", "effects": {"deny": True}}], "WEFT_POLICIES")
    assert [r.name for r in rules] == ["b"]


def test_parse_rule__effects_are_flattened_and_keyed_limits_kept() -> None:
    r = rule("a", {"limits": {"memory_mb": 512}, "budget": {"max_attempts": 3},
                   "concurrency": {"key": "{t}", "limit": 2}, "rate": "10/m"})
    assert dict(r.effects) == {"limits.memory_mb": 512.0, "budget.max_attempts": 3,
                               "concurrency": {"limit": 2, "key": "{t}"}, "rate": {"rate": "10/m", "key": None}}


# ---------------------------------------------------------------- matching and scopes


def test_matches__each_criterion() -> None:
    s = subject(owner="ann", groups=frozenset({"ml"}), labels={"team": "ml"}, params={"size": 200, "mode": "fast"})
    hits: dict[str, dict[str, Any]] = {
        "glob": {"skill": "report.*"}, "queue": {"queue": ["weft", "gpu"]}, "owner": {"owner": "ann"},
        "group": {"group": ["ml", "ops"]}, "label": {"labels": {"team": ["ml", "ai"]}},
        "gt": {"params": {"size": {"gt": 100}}}, "eq": {"params": {"mode": "fast"}},
        "in": {"params": {"mode": {"in": ["fast", "slow"]}}}, "missing-ne": {"params": {"x": {"ne": 1}}},
        "window": {"window": {"days": "mon-fri", "from": "09:00", "to": "17:00"}},
    }
    misses: dict[str, dict[str, Any]] = {
        "glob": {"skill": "build.*"}, "queue": {"queue": "gpu"}, "owner": {"owner": "bob"}, "group": {"group": "ops"},
        "label": {"labels": {"team": "ops"}}, "gt": {"params": {"size": {"gt": 500}}},
        "type": {"params": {"mode": {"gt": 3}}}, "exists": {"params": {"x": {"exists": True}}},
        "window": {"window": {"days": "sat,sun"}},
    }
    rules = [rule(f"hit-{k}", {"priority": 1}, **m) for k, m in hits.items()]
    rules += [rule(f"miss-{k}", {"priority": 1}, **m) for k, m in misses.items()]
    assert sorted(r.name for r in evaluate(rules, s).matched) == sorted(f"hit-{k}" for k in hits)


def test_evaluate__the_most_specific_scope_wins_each_effect() -> None:
    rules = [rule("everyone", {"timeout": 600, "deny": True, "priority": 5}),
             rule("gpu-queue", {"timeout": 300, "priority": 7}, queue="weft"),
             rule("reports", {"deny": False}, skill="report.*")]
    v = evaluate(rules, subject())
    assert {k: (e.value, e.rule.name) for k, e in v.effects.items()} == {
        "timeout": (300, "gpu-queue"), "priority": (7, "gpu-queue"), "deny": (False, "reports")}
    assert v.denied is None
    assert [r.scope for r in rules] == ["global", "queue", "skill"]
    assert evaluate(rules, subject("build")).denied is not None  # no skill rule to lift the global deny


def test_evaluate__a_conflict_at_run_time_takes_the_strictest_and_names_the_other() -> None:
    rules = [rule("a", {"timeout": 600, "deny": False}), rule("b", {"timeout": 60, "deny": True})]
    v = evaluate(rules, subject())
    assert (v.effects["timeout"].value, v.effects["timeout"].conflict) == (60, ("a",))
    assert v.denied is not None and v.denied.rule.name == "b"


# ---------------------------------------------------------------- conflicts


def test_conflicts__same_scope_overlapping_and_disagreeing_only() -> None:
    rules = [rule("a", {"timeout": 60}, skill="report.*"), rule("b", {"timeout": 90}, skill="report.daily"),
             rule("c", {"timeout": 90}, skill="build"),  # cannot match what a and b match
             rule("d", {"timeout": 30}),  # another scope
             rule("e", {"timeout": 60}, skill="report.*", owner="ann")]  # agrees with a
    found = [(c.first.name, c.second.name, c.effect) for c in conflicts(rules)]
    assert found == [("a", "b", "timeout"), ("b", "e", "timeout")]
    assert "both of scope skill" in str(conflicts(rules)[0])
    apart = [rule("x", {"deny": True}, window={"days": "mon", "from": "09:00", "to": "10:00"}),
             rule("y", {"deny": False}, window={"days": "mon", "from": "10:00", "to": "11:00"})]
    assert conflicts(apart) == []


# ---------------------------------------------------------------- effects


def test_apply_task__caps_lower_or_set_and_routes_replace() -> None:
    v = evaluate([rule("caps", {"limits": {"memory_mb": 512, "cpu_seconds": 60}, "timeout": 120, "queue": "slow",
                                "priority": 9})], subject())
    fields: dict[str, Any] = {"limits": {"memory_mb": 2048, "cpu_seconds": 10}, "timeout": None, "queue": "weft",
                              "priority": 5}
    new, changes = apply_task(v, fields)
    assert new == {"limits": {"memory_mb": 512, "cpu_seconds": 10}, "timeout": 120, "queue": "slow", "priority": 9}
    assert [c.as_dict() for c in changes] == [
        {"field": "limits.memory_mb", "from": 2048, "to": 512}, {"field": "priority", "from": 5, "to": 9},
        {"field": "queue", "from": "weft", "to": "slow"}, {"field": "timeout", "from": None, "to": 120}]
    assert fields["limits"]["memory_mb"] == 2048  # the input is not changed


def test_apply_budget__the_lowest_cap_of_all_tasks() -> None:
    vs = [evaluate([rule("a", {"budget": {"max_cost": 5}})], subject()),
          evaluate([rule("b", {"budget": {"max_cost": 2, "max_attempts": 10}})], subject())]
    budget, changes = apply_budget(vs, {"max_cost": 3.0, "max_attempts": 4})
    assert budget == {"max_cost": 2, "max_attempts": 4}
    assert [(c.field, c.before, c.after, c.effect.rule.name) for c in changes] == [("budget.max_cost", 3.0, 2, "b")]


def test_apply_budget__caps_a_jobs_tokens() -> None:
    vs = [evaluate([rule("llm", {"budget": {"max_tokens": 50_000}})], subject())]
    assert apply_budget(vs, {"max_tokens": None})[0] == {"max_tokens": 50_000}  # none given: the cap is the budget
    assert apply_budget(vs, {"max_tokens": 10_000})[0] == {"max_tokens": 10_000}  # a lower one stays


# ---------------------------------------------------------------- time windows and the claim


def test_window__past_midnight_and_its_end() -> None:
    night = parse_window("w", {"days": "fri", "from": "22:00", "to": "06:00", "tz": "Europe/Paris"})
    friday_23_paris = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert in_window(night, friday_23_paris) and in_window(night, datetime(2026, 11, 28, 4, 0, tzinfo=UTC))
    assert not in_window(night, datetime(2026, 11, 28, 6, 0, tzinfo=UTC))  # 07:00 in Paris
    assert window_end(night, friday_23_paris) == datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
    weekend = parse_window("w", {"days": "sat-sun"})  # whole days, chained
    assert window_end(weekend, SATURDAY_10) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def test_at_claim__a_window_deny_holds_until_it_closes_and_the_flag_says_so() -> None:
    rules = [rule("office-hours", {"deny": True}, skill="report.*",
                  window={"days": "mon-fri", "from": "09:00", "to": "17:00"})]
    held = at_claim(rules, subject(now=MONDAY_10))
    assert (held.run, held.rule, held.until) == (False, "office-hours", datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    assert at_claim(rules, subject(now=SATURDAY_10)).run
    assert claim_time(rules, subject(now=SATURDAY_10)) and not claim_time(rules, subject("build"))


# ---------------------------------------------------------------- the YAML file


def test_parse_text__errors_name_the_field_and_its_line() -> None:
    text = ("policies:\n"
            "  - name: caps\n"
            "    effects:\n"
            "      limits: {memory_mb: 512}\n"
            "  - name: bad\n"
            "    match:\n"
            "      skill: report.*\n"
            "    effects:\n"
            "      timeout: -5\n")
    with pytest.raises(InvalidInput) as exc:
        parse_text(text, "rules.yaml")
    assert exc.value.field == "policies[1].effects.timeout"
    assert exc.value.message == "rules.yaml line 9: must be greater than 0, got -5"
    good = parse_text(text.replace("-5", "5"), "rules.yaml")
    assert [(r.name, r.line, r.where) for r in good] == [("caps", 2, "file rules.yaml line 2"),
                                                         ("bad", 5, "file rules.yaml line 5")]


def test_parse_text__yaml_syntax_and_shape_errors_name_the_line() -> None:
    with pytest.raises(InvalidInput, match=r"invalid YAML \(line 2"):
        parse_text("- name: a\n  effects: {deny: true}}\n")
    with pytest.raises(InvalidInput, match="only 'policies'"):
        parse_text("rules: []\n")
    assert parse_text("") == []


# ---------------------------------------------------------------- system checks


def test_check_policies__malformed_rules_conflicts_and_unknown_queues(settings: Any, tmp_path: Any) -> None:
    from weft_django.checks import check_policies

    assert check_policies() == []
    settings.WEFT_POLICIES = [{"name": "a", "effects": {"timeout": "soon"}}]
    (found,) = check_policies()
    assert found.id == "weft.E070" and "WEFT_POLICIES[0].effects.timeout" in found.msg and found.hint
    f = tmp_path / "p.yaml"
    f.write_text("- name: b\n  effects: {queue: gpu}\n- name: c\n  effects: {queue: cpu}\n")
    settings.WEFT_POLICIES = [{"name": "b", "effects": {"deny": True}}]
    settings.WEFT_POLICY_FILE = str(f)
    settings.WEFT_QUEUES = ["weft", "cpu"]
    settings.WEFT_POLICY_CACHE_SECONDS = -1
    # The name b twice, b and c disagreeing on the queue, gpu not a queue, the cache setting.
    assert sorted(str(m.id) for m in check_policies()) == ["weft.E072", "weft.E072", "weft.E073", "weft.E074"]
    settings.WEFT_POLICIES = []
    got = {(m.id, m.msg.split(":")[0]) for m in check_policies()}
    assert ("weft.E073", "Policy 'b' (file p.yaml line 1) routes tasks to queue 'gpu', which is not in WEFT_QUEUES "
                         "['weft', 'cpu'].") in {(m.id, m.msg) for m in check_policies()}
    assert ("weft.E072", "Conflicting policies") in got
    f.write_text("- name: b\n  effects: {queue: [x]}\n")
    assert [m.id for m in check_policies() if m.id != "weft.E074"] == ["weft.E071"]


def test_parse_text__a_value_yaml_itself_refuses_is_an_error_not_a_traceback() -> None:
    with pytest.raises(InvalidInput) as exc:  # was a ValueError from YAML's date constructor, at every submission
        parse_text("policies:\n  - {name: a, match: {skill: 2026-13-45}}\n", "rules.yaml")
    assert exc.value.field == "policies"
    assert "month must be in 1..12" in exc.value.message


@pytest.mark.parametrize("bad", [5, 1.5, True, ["p.yaml"], {"path": "p.yaml"}, "p\x00.yaml"])
def test_check_policies__a_policy_file_setting_that_is_no_path_is_an_error_not_a_crash(settings: Any,
                                                                                        bad: Any) -> None:
    from weft_django.checks import check_policies

    settings.WEFT_POLICY_FILE = bad  # each raised out of `manage.py check` (Path(5), open() of a NUL)
    assert [m.id for m in check_policies()] == ["weft.E071"]
