"""Notifications: job and task events, matched against subscriptions (Subscription rows and
WEFT_NOTIFICATIONS), delivered as signed webhooks or e-mail by weft tasks of the skill ``weft.notify``: a
receiver that is down gets its delivery later (retries, attempts, decisions, like any task).

A webhook is a POST of the event as JSON with ``X-Weft-Timestamp`` (Unix seconds) and ``X-Weft-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the subscription's secret (docs/operations.md
shows how to verify it).
"""

from __future__ import annotations

import fnmatch
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from .conf import settings
from .outcomes import NonRetryable
from .subscribing import check_subscription, sign

NOTIFY = "weft.notify"
LABEL = "weft.notify"  # on delivery jobs: their own ends are never notified (no loop)
_cache: tuple[float, list[dict[str, Any]]] = (0.0, [])


def subscriptions() -> list[dict[str, Any]]:
    """The enabled subscriptions (rows and WEFT_NOTIFICATIONS), read at most every few seconds per process:
    this runs after every job's end, so the usual answer (none) must cost nothing."""
    global _cache
    at, subs = _cache
    if time.monotonic() - at < settings.NOTIFY_CACHE_SECONDS:
        return subs
    from .models import Subscription

    subs = [{**row, "setting": None} for row in Subscription.objects.filter(enabled=True).values(
        "id", "name", "events", "skills", "labels", "target", "secret")]
    subs += [{"id": None, "setting": i, **check_subscription(s, f"WEFT_NOTIFICATIONS[{i}]")}
             for i, s in enumerate(settings.NOTIFICATIONS or ())]
    _cache = (time.monotonic(), subs)
    return subs


def forget() -> None:
    global _cache
    _cache = (0.0, [])


def matching(event: str, labels: Mapping[str, Any], skill: str | None) -> list[dict[str, Any]]:
    if labels.get(LABEL):
        return []
    return [s for s in subscriptions() if event in s["events"]
            and all(labels.get(k) == v for k, v in s["labels"].items())
            # skill: of a task event; a job event (None) is not filtered by skill
            and (not s["skills"] or skill is None or any(fnmatch.fnmatchcase(skill, g) for g in s["skills"]))]


def deliver(target: str, secret: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one event (the body of the ``weft.notify`` skill). A receiver that is down or answers 5xx/429 is
    a retryable failure; a 4xx is not (the receiver refused this event)."""
    if target.startswith("mailto:"):
        from django.core.mail import send_mail

        subject = f"weft: {payload['event']}: job {payload['job']['id']} {payload['job'].get('name') or ''}".strip()
        send_mail(subject, json.dumps(payload, indent=1, sort_keys=True), None, [target.removeprefix("mailto:")])
        return {"sent": "mail"}
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "weft-django", "X-Weft-Timestamp": timestamp,
               "X-Weft-Event": payload["event"]}
    if secret:
        headers["X-Weft-Signature"] = sign(secret, timestamp, body)
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.NOTIFY_TIMEOUT) as response:
            return {"status": response.status}
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise ConnectionError(f"{target} answered {exc.code}") from None
        raise NonRetryable(f"{target} refused the event: {exc.code}") from None


def target_of(subscription: int | None, setting: int | None) -> tuple[str, str]:
    """Where a delivery goes and its secret, read when it is sent (the secret never sits in a task's params)."""
    if subscription is not None:
        from .models import Subscription

        row = Subscription.objects.filter(pk=subscription).values("target", "secret").first()
        if row is None:
            raise NonRetryable(f"subscription {subscription} was deleted")
        return row["target"], row["secret"]
    subs = list(settings.NOTIFICATIONS or ())
    if setting is None or not 0 <= setting < len(subs):
        raise NonRetryable(f"WEFT_NOTIFICATIONS[{setting}] is gone")
    s = check_subscription(subs[setting], f"WEFT_NOTIFICATIONS[{setting}]")
    return s["target"], s["secret"]


def on_job_finished(sender: Any = None, *, job_id: int, status: str, **kwargs: Any) -> None:
    """After a job ends: tell who asked to be told (one delivery task per subscription)."""
    if subscriptions():
        _notify(f"job.{status}", job_id, None)


def on_task_finished(sender: Any = None, *, job_id: int, task_id: int, status: str, **kwargs: Any) -> None:
    if status != "succeeded" and subscriptions():
        _notify("task.failed", job_id, task_id)


def _notify(event: str, job_id: int, task_id: int | None) -> None:
    from . import reports, service

    job = reports.event_job(job_id)
    if job is None:
        return
    task = reports.event_task(task_id) if task_id is not None else None
    subs = matching(event, job["labels"] or {}, task["skill"] if task else None)
    if not subs:
        return
    payload = {"event": event, "job": job, **({"task": task} if task else {})}
    for sub in subs:
        where = {"subscription": sub["id"]} if sub["id"] is not None else {"setting": sub["setting"]}
        service.submit(NOTIFY, {**where, "payload": payload}, name=f"notify {sub['name']}: {event}",
                       labels={LABEL: True, "event": event, "job": job_id})
