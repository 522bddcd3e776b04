"""WEFT_MAX_RESULT_BYTES and WEFT_QUEUES: their system checks (weft.E05x), and WEFT_QUEUES at submission."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core import checks as django_checks
from pytest_django import Settings
from rest_framework.test import APIClient

from weft_django import service, skill
from weft_django.checks import check_results_and_queues
from weft_django.exceptions import InvalidInput
from weft_django.models import Job, Task


def ids(messages: list[django_checks.CheckMessage]) -> list[str]:
    return [str(m.id) for m in messages]


def test_check_results_and_queues__defaults_and_test_settings_pass() -> None:
    assert check_results_and_queues() == []
    assert check_results_and_queues in django_checks.registry.registry.get_checks()


@pytest.mark.parametrize("value", [None, 1, 2**40])
def test_max_result_bytes__good_values_pass(settings: Settings, value: Any) -> None:
    settings.WEFT_MAX_RESULT_BYTES = value
    assert check_results_and_queues() == []


@pytest.mark.parametrize("value", [0, -5, 1.5, "1000", True])
def test_max_result_bytes__bad_value_fires_e050(settings: Settings, value: Any) -> None:
    settings.WEFT_MAX_RESULT_BYTES = value
    [message] = check_results_and_queues()
    assert (message.id, message.level) == ("weft.E054", django_checks.ERROR)
    assert "WEFT_MAX_RESULT_BYTES" in message.msg and repr(value) in message.msg


# ---- WEFT_QUEUES ----



@pytest.mark.parametrize("value", [None, ["weft"], ("weft", "gpu")])
def test_queues__good_values_pass(settings: Settings, value: Any) -> None:
    settings.WEFT_QUEUES = value
    assert check_results_and_queues() == []


@pytest.mark.parametrize("value", [[], "weft", ["weft", "no good"], ["weft", 5]])
def test_queues__bad_value_fires_e051(settings: Settings, value: Any) -> None:
    settings.WEFT_QUEUES = value
    [message] = check_results_and_queues()
    assert (message.id, message.level) == ("weft.E051", django_checks.ERROR)
    assert "WEFT_QUEUES" in message.msg


def test_queues__default_and_sweep_queue_must_be_listed(settings: Settings) -> None:
    settings.WEFT_QUEUES = ["gpu"]
    settings.WEFT_SWEEP_QUEUE = "maintenance"
    messages = check_results_and_queues()
    assert ids(messages) == ["weft.E052", "weft.E052"]
    assert [m.msg for m in messages] == ["WEFT_DEFAULT_QUEUE 'weft' is not in WEFT_QUEUES ['gpu'].",
                                         "WEFT_SWEEP_QUEUE 'maintenance' is not in WEFT_QUEUES ['gpu']."]


@pytest.mark.usefixtures("clean_registry")
def test_queues__a_skill_naming_another_queue_fires_e053_naming_both(settings: Settings) -> None:
    settings.WEFT_QUEUES = ["weft"]

    @skill(name="unit.on_gpu", queue="gpu")
    def on_gpu() -> None:
        return None

    [message] = check_results_and_queues()
    assert (message.id, message.obj) == ("weft.E053", "unit.on_gpu")
    assert message.msg == ("Skill 'unit.on_gpu' names queue 'gpu', which is not in WEFT_QUEUES ['weft']: its tasks "
                           "would be refused.")


@pytest.mark.django_db
def test_queues__a_submission_naming_another_queue_is_refused_and_nothing_is_written(settings: Settings) -> None:
    settings.WEFT_QUEUES = ["weft", "gpu"]
    assert Task.objects.get(job=service.submit("t.add", {"a": 1, "b": 2}, queue="gpu")).queue == "gpu"

    with pytest.raises(InvalidInput) as refused:
        service.submit("t.add", {"a": 1, "b": 2}, queue="nobody-reads-this")
    assert refused.value.field == "queue"
    assert refused.value.message == "'nobody-reads-this' is not one of the queues workers read (WEFT_QUEUES: weft, gpu)"
    with pytest.raises(InvalidInput) as in_job:
        service.submit_job({"tasks": [{"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}},
                                      {"key": "b", "skill": "t.add", "params": {"a": 1, "b": 2}, "queue": "x"}]})
    assert in_job.value.field == "tasks[1].queue"
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_queues__the_api_answers_400_naming_queue(settings: Settings) -> None:
    settings.WEFT_QUEUES = ["weft"]
    alice = User.objects.create_user("alice")
    alice.user_permissions.add(Permission.objects.get(content_type__app_label="weft", codename="run_skill"))
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=alice.pk))

    r = client.post("/api/weft/jobs/", {"skill": "t.add", "params": {"a": 1, "b": 2}, "queue": "gpu"}, format="json")

    assert r.status_code == 400
    assert r.json() == {"field": "queue",
                        "detail": "'gpu' is not one of the queues workers read (WEFT_QUEUES: weft)"}
    assert not Job.objects.exists()
