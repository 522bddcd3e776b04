"""Subscriptions to job and task events, as data (pure: no Django): the events there are, how a subscription
is checked, and how a webhook body is signed. notifications.py delivers them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from .exceptions import InvalidInput
from .validators import check_json, check_text

EVENTS = ("job.succeeded", "job.failed", "job.stopped", "job.cancelled", "task.failed")


def check_subscription(raw: Any, path: str = "subscription") -> dict[str, Any]:
    """A subscription as stored, or InvalidInput naming the field."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(path, "must be an object")
    events = raw.get("events")
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise InvalidInput("events", f"must be a non-empty list of: {', '.join(EVENTS)}; got {events!r}")
    skills = raw.get("skills") or []
    if not isinstance(skills, list) or not all(isinstance(s, str) and s for s in skills):
        raise InvalidInput("skills", "must be a list of skill names or globs")
    check_json(skills, "skills")  # no NUL or lone surrogate: the row's JSON columns cannot hold one
    labels = raw.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidInput("labels", "must be an object of label -> value")
    check_json(labels, "labels")
    target = raw.get("target")
    if isinstance(target, str):
        check_text(target, "target")
    if not isinstance(target, str) or not re.match(r"^(https?://[^\s/]+\S*|mailto:[^@\s]+@[^@\s]+)\Z", target):
        raise InvalidInput("target", f"must be an http(s) URL or mailto:address, got {target!r}")
    secret = raw.get("secret") or ""
    if not isinstance(secret, str):
        raise InvalidInput("secret", "must be a string")
    check_text(secret, "secret")
    return {"name": str(raw.get("name") or target), "events": list(events), "skills": list(skills),
            "labels": dict(labels), "target": target, "secret": secret}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
