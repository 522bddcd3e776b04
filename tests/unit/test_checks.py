"""System checks: each weft.E0xx fires for its bad value, with a hint, and none fire for the defaults."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks as django_checks
from pytest_django import Settings

from weft_django.checks import check_settings
from weft_django.conf import Settings as WeftSettings

# Every WEFT_* value setting; WEFT_CELERY_APP stays (it is the wiring, not a tunable).
VALUE_SETTINGS = [name for name in vars(WeftSettings) if name.isupper() and name != "CELERY_APP"]


@pytest.fixture
def defaults(settings: Settings) -> Settings:
    """The test project's settings with every WEFT_* value removed, so conf.py's defaults apply."""
    for name in VALUE_SETTINGS:
        if hasattr(settings, f"WEFT_{name}"):
            delattr(settings, f"WEFT_{name}")
    return settings


def ids(messages: list[django_checks.CheckMessage]) -> list[str]:
    return [str(m.id) for m in messages]


def test_check_settings__defaults_pass(defaults: Settings) -> None:
    assert check_settings() == []


def test_check_settings__test_settings_pass() -> None:
    assert check_settings() == []


def test_check_settings__registered_with_django() -> None:
    assert check_settings in django_checks.registry.registry.get_checks()


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("DEFAULT_QUEUE", "has space", "weft.E001"),
    ("DEFAULT_QUEUE", "", "weft.E001"),
    ("DEFAULT_QUEUE", "weft\n", "weft.E001"),
    ("DEFAULT_QUEUE", 5, "weft.E001"),
    ("LEASE_SECONDS", 0, "weft.E002"),
    ("LEASE_SECONDS", "30", "weft.E002"),
    ("HEARTBEAT_INTERVAL", -1, "weft.E003"),
    ("SWEEP_INTERVAL", None, "weft.E004"),
    ("REDISPATCH_AFTER", True, "weft.E005"),
    ("MONITOR_INTERVAL", 0.0, "weft.E006"),
    ("MAX_TIMEOUT", -60, "weft.E007"),
    ("HEARTBEAT_INTERVAL", 11, "weft.E008"),  # more than a third of the default 30 s lease
    ("LIMIT_CEILINGS", {"memory_mb": -1}, "weft.E009"),
    ("LIMIT_CEILINGS", {"gpus": 1}, "weft.E009"),
    ("LIMIT_CEILINGS", [1], "weft.E009"),
    ("DEFAULT_RETRY", {"max_attempts": 0}, "weft.E010"),
    ("DEFAULT_RETRY", {"tries": 3}, "weft.E010"),
    ("DEFAULT_RETRY", "3", "weft.E010"),
    ("LIMIT_POLICY", {"memory_mb": "ignore"}, "weft.E011"),
    ("LIMIT_POLICY", ["memory_mb"], "weft.E011"),
    ("LIMIT_POLICY", {"gpu_hours": "fail"}, "weft.E011"),
    ("DEFAULT_TIMEOUT", 0, "weft.E012"),
    ("DEFAULT_TIMEOUT", 10**9, "weft.E012"),  # above WEFT_MAX_TIMEOUT: every submission would be refused
    ("DEFAULT_PRIORITY", 12, "weft.E013"),
    ("DEFAULT_PRIORITY", "5", "weft.E013"),
    ("OUTPUT_LIMIT", 0, "weft.E014"),
    ("MAX_DEADLINE_DAYS", 0, "weft.E015"),
    ("MAX_DEADLINE_DAYS", 10**6, "weft.E015"),  # now + the ceiling would not be a date
    ("MAX_RETRY_ATTEMPTS", 2**31, "weft.E016"),
    ("MAX_RETRY_ATTEMPTS", 2.5, "weft.E016"),
    ("MIN_RETRY_BACKOFF", -1, "weft.E017"),
    ("MIN_RETRY_BACKOFF", "0.1", "weft.E017"),
    ("BATCH_SIZE", 0, "weft.E019"),
    ("BATCH_SIZE", 2.5, "weft.E019"),
    ("BATCH_SIZE", True, "weft.E019"),
    ("BATCH_FLUSH_MS", -1, "weft.E019"),
    ("BATCH_FLUSH_MS", "5", "weft.E019"),
    ("SUBMIT_GROUP_MS", -1, "weft.E019"),
    ("SUBMIT_GROUP_MS", "5", "weft.E019"),
    ("SUBMIT_GROUP_MS", 1001, "weft.E019"),
    ("SUBMIT_GROUP_MS", True, "weft.E019"),
    ("SUBMIT_GROUP_MS", float("nan"), "weft.E019"),
]


@pytest.mark.parametrize(("setting", "value", "check_id"), BAD_VALUES)
def test_check_settings__bad_value_fires_its_check(defaults: Settings, setting: str, value: Any,
                                                   check_id: str) -> None:
    setattr(defaults, f"WEFT_{setting}", value)
    messages = check_settings()
    assert ids(messages) == [check_id]
    (message,) = messages
    assert message.level == django_checks.ERROR
    assert f"WEFT_{setting}" in message.msg
    assert message.hint


def test_check_settings__every_error_id_is_covered_above() -> None:
    # weft.E018 (a retry policy outside the bounds) is one message per policy: tested below
    assert {check_id for _, _, check_id in BAD_VALUES} | {"weft.E018"} == {f"weft.E{n:03d}" for n in range(1, 20)}


def test_check_settings__messages_name_the_problem(defaults: Settings) -> None:
    defaults.WEFT_LIMIT_CEILINGS = {"memory_mb": -1}
    defaults.WEFT_LEASE_SECONDS = 0
    by_id = {m.id: m for m in check_settings()}
    assert by_id["weft.E002"].msg == "WEFT_LEASE_SECONDS must be a number of seconds greater than 0 (at most 10**9)."
    assert by_id["weft.E002"].hint == "Remove WEFT_LEASE_SECONDS to use the default."
    assert by_id["weft.E009"].msg == (
        "WEFT_LIMIT_CEILINGS is invalid: WEFT_LIMIT_CEILINGS.memory_mb: must be greater than 0, got -1")


def test_check_settings__several_problems_are_all_reported(defaults: Settings) -> None:
    defaults.WEFT_DEFAULT_QUEUE = "no good"
    defaults.WEFT_SWEEP_INTERVAL = 0
    defaults.WEFT_LIMIT_POLICY = {"wall_seconds": "sometimes"}
    assert ids(check_settings()) == ["weft.E001", "weft.E004", "weft.E011"]


def test_check_settings__heartbeat_exactly_a_third_of_the_lease_passes(defaults: Settings) -> None:
    defaults.WEFT_LEASE_SECONDS = 30
    defaults.WEFT_HEARTBEAT_INTERVAL = 10
    assert check_settings() == []


def test_check_settings__missing_celery_app_is_reported(defaults: Settings) -> None:
    defaults.WEFT_CELERY_APP = "no.such.module:app"
    assert ids(check_settings()) == ["weft.E020"]


def test_check_settings__retry_policies_outside_the_bounds_name_the_skill_or_the_default(
        defaults: Settings) -> None:
    defaults.WEFT_MAX_RETRY_ATTEMPTS = 4  # demo.flaky and t.flaky ask for 5, weft.notify 8; the default (3) is fine
    messages = check_settings()
    assert ids(messages) == ["weft.E018"] * 3
    by_skill = {m.msg.split("'")[1]: m for m in messages}
    assert sorted(by_skill) == ["demo.flaky", "t.flaky", "weft.notify"]
    assert by_skill["t.flaky"].msg == (
        "The retry policy of skill 't.flaky' is outside WEFT_MAX_RETRY_ATTEMPTS / "
        "WEFT_MIN_RETRY_BACKOFF: retry.max_attempts: 5 exceeds the configured ceiling 4.")
    assert by_skill["t.flaky"].hint

    defaults.WEFT_MAX_RETRY_ATTEMPTS = 100
    defaults.WEFT_MIN_RETRY_BACKOFF = 2  # the default waits 1 s; skills that keep it are not named again
    from weft_django import registry

    # Every skill whose own policy waits less than 2 s, whatever the test app registers: computed, then
    # checked against a few known ones so that an empty list cannot pass.
    waits_less = [d.name for d in registry.all_skills()
                        if (p := registry.effective_retry(d, None)) != registry.effective_retry(
                            registry.get("t.noop"), None) and min(p.backoff, p.max_delay) < 2]
    assert {"demo.flaky", "t.always_fails", "t.flaky", "t.exit"} <= set(waits_less)
    assert [m.msg.split(":")[0] for m in check_settings()] == [
        "The retry policy of WEFT_DEFAULT_RETRY is outside WEFT_MAX_RETRY_ATTEMPTS / WEFT_MIN_RETRY_BACKOFF",
        *(f"The retry policy of skill '{name}' is outside WEFT_MAX_RETRY_ATTEMPTS / WEFT_MIN_RETRY_BACKOFF"
          for name in waits_less)]


@pytest.mark.parametrize(("value", "queues", "expected"), [
    ({"t.noop": {"concurrency": 2, "rate": "5/s"}}, {"slow": 4}, []),
    ({"t.noop": {"concurency": 2}}, {}, ["weft.E060"]),
    ([], {}, ["weft.E060"]),
    ({"t.noop": {"concurrency": 0}}, {}, ["weft.E061"]),
    ({"t.noop": {"concurrency": {"key": "{a.b}", "limit": 1}}}, {}, ["weft.E061"]),
    ({"t.noop": {"rate": "5 per second"}}, {}, ["weft.E062"]),
    ({"t.nope": {"rate": "5/s"}}, {}, ["weft.W064"]),
    ({}, {"slow": 0}, ["weft.E063"]),
    ({}, ["slow"], ["weft.E063"]),
])
def test_check_limits__bad_limits_in_the_settings(settings: Any, value: Any, queues: Any,
                                                  expected: list[str]) -> None:
    from weft_django.checks import check_limits

    settings.WEFT_SKILL_LIMITS = value
    settings.WEFT_QUEUE_CONCURRENCY = queues
    messages = check_limits()
    assert ids(messages) == expected
    assert all(m.hint for m in messages)


def test_checks__a_hostile_value_in_any_weft_setting_is_a_message_never_a_crash(settings: Any) -> None:
    """``manage.py check`` must report a bad WEFT_* value, not raise on it (WEFT_POLICY_FILE = 5 did)."""
    from django.core import checks

    from weft_django.conf import Settings

    names = sorted({n for n in vars(Settings) if n.isupper()} | {n for n in Settings.__annotations__ if n.isupper()})
    assert len(names) >= 40
    hostile = ["abc", -1, 0, float("nan"), float("inf"), 10**30, True, None, [], {}, "\x00", ["x"], {"a": object()}]
    crashes = []
    for name in names:
        for value in hostile:
            setattr(settings, f"WEFT_{name}", value)
            try:
                checks.run_checks()
            except Exception as exc:  # what is looked for: anything raised
                crashes.append((name, repr(value)[:20], type(exc).__name__, str(exc)[:80]))
        delattr(settings, f"WEFT_{name}")
    assert not crashes, crashes


@pytest.mark.parametrize("bad", ["abc", None, True, 0, -1, float("nan"), float("inf"), 10**30])
def test_seconds__a_bad_interval_read_by_a_thread_is_its_default_not_a_crash(settings: Any, bad: Any) -> None:
    """The monitor and heartbeat threads read these live; time.sleep("abc") killed the lease's renewer."""
    from weft_django.conf import Settings, seconds

    settings.WEFT_MONITOR_INTERVAL = bad
    assert seconds("MONITOR_INTERVAL") == Settings.MONITOR_INTERVAL
    settings.WEFT_MONITOR_INTERVAL = 0.05
    assert seconds("MONITOR_INTERVAL") == 0.05
