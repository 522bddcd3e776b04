"""Notifications: which subscriptions an event matches, what a delivery carries (never the secret), signing,
e-mail, and bad subscriptions refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError as DjangoValidationError

from weft_django import notifications, service
from weft_django.exceptions import InvalidInput
from weft_django.models import Job, Subscription, Task
from weft_django.skills import notify

pytestmark = pytest.mark.django_db


def deliveries() -> list[Task]:
    return list(Task.objects.filter(skill_name="weft.notify").order_by("pk"))


def test_a_failed_job_makes_one_delivery_task_per_matching_subscription(settings: Any) -> None:
    Subscription.objects.create(name="ops", events=["job.failed"], target="https://hooks.example/ops",
                                secret="s3cret")
    Subscription.objects.create(name="billing", events=["job.failed"], labels={"team": "billing"},
                                target="https://hooks.example/billing")
    Subscription.objects.create(name="off", events=["job.failed"], target="https://x.example", enabled=False)
    settings.WEFT_NOTIFICATIONS = [{"name": "mail", "events": ["job.failed", "task.failed"], "skills": ["t.*"],
                                    "target": "mailto:ops@example.com"}]
    job = service.submit("t.fatal", labels={"team": "search"})
    Job.objects.filter(pk=job.pk).update(status="failed")
    notifications.on_job_finished(job_id=job.pk, status="failed")
    sent = deliveries()
    assert [t.params.get("subscription") or t.params.get("setting") for t in sent] == [
        Subscription.objects.get(name="ops").pk, 0]
    payload = sent[0].params["payload"]
    assert payload["event"] == "job.failed" and payload["job"]["id"] == job.pk
    assert "s3cret" not in str(sent[0].params)  # read at delivery time, never stored with the task
    assert all(t.job.labels[notifications.LABEL] for t in sent)
    # A delivery job's own end is never notified (no loop).
    notifications.on_job_finished(job_id=sent[0].job_id, status="failed")
    assert len(deliveries()) == 2


def test_task_events_match_skill_globs(settings: Any) -> None:
    settings.WEFT_NOTIFICATIONS = [{"events": ["task.failed"], "skills": ["billing.*"], "target": "https://a.example"}]
    job = service.submit("t.fatal")
    notifications.on_task_finished(job_id=job.pk, task_id=Task.objects.get(job=job).pk, status="failed")
    assert deliveries() == []  # t.fatal is not billing.*
    settings.WEFT_NOTIFICATIONS = [{"events": ["task.failed"], "skills": ["t.*"], "target": "https://a.example"}]
    notifications.on_task_finished(job_id=job.pk, task_id=Task.objects.get(job=job).pk, status="failed")
    [sent] = deliveries()
    assert sent.params["payload"]["task"]["skill"] == "t.fatal"


def test_signature_and_email(settings: Any) -> None:
    body = b'{"event": "job.failed"}'
    assert notifications.sign("k", "1700000000", body) == (
        "sha256=" + __import__("hmac").new(b"k", b"1700000000." + body, "sha256").hexdigest())
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.WEFT_NOTIFICATIONS = [{"events": ["job.failed"], "target": "mailto:ops@example.com"}]
    notify(setting=0, payload={"event": "job.failed", "job": {"id": 7, "name": "nightly"}})
    [message] = mail.outbox
    assert message.to == ["ops@example.com"] and message.subject == "weft: job.failed: job 7 nightly"


@pytest.mark.parametrize("raw,field", [
    ({"events": ["job.exploded"], "target": "https://a.example"}, "events"),
    ({"events": [], "target": "https://a.example"}, "events"),
    ({"events": ["job.failed"], "target": "file:///etc/passwd"}, "target"),
    ({"events": ["job.failed"], "target": "https://a.example\n"}, "target"),  # "$" let a trailing newline in
    ({"events": ["job.failed"], "target": "https://a.example/\x00"}, "target"),
    ({"events": ["job.failed"], "target": "https://a.example", "skills": ["t.\x00"]}, "skills[0]"),
    ({"events": ["job.failed"], "target": "https://a.example", "labels": {"team": "\ud800"}}, "labels.team"),
    ({"events": ["job.failed"], "target": "https://a.example", "skills": "t.*"}, "skills"),
    ({"events": ["job.failed"], "target": "https://a.example", "labels": ["x"]}, "labels"),
])
def test_a_bad_subscription_is_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        notifications.check_subscription(raw)
    assert info.value.field == field
    row = Subscription(name="x", **{"events": [], "skills": [], "labels": {}, **raw})
    with pytest.raises(DjangoValidationError) as err:
        row.full_clean()
    assert field.split(".")[0].split("[")[0] in err.value.message_dict  # the form field that holds it


def test_the_check_names_a_bad_setting(settings: Any) -> None:
    from weft_django.checks import check_notifications

    settings.WEFT_NOTIFICATIONS = [{"events": ["job.failed"], "target": "https://a.example"}, {"events": ["x"]}]
    [error] = check_notifications()
    assert error.id == "weft.E057" and error.msg.startswith("WEFT_NOTIFICATIONS[1]: events:")
