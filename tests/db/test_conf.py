"""weft's settings are read live: a changed Django setting shows at once, in conf and in what submit checks."""

from __future__ import annotations

import pytest
from django.test import override_settings
from pytest_django import Settings

from weft_django.conf import settings as weft
from weft_django.exceptions import InvalidInput
from weft_django.models import Job
from weft_django.service import submit


def test_a_changed_setting_is_seen_at_once() -> None:
    assert weft.LEASE_SECONDS == 30.0
    with override_settings(WEFT_LEASE_SECONDS=7.5):
        assert weft.LEASE_SECONDS == 7.5
        with override_settings(WEFT_LEASE_SECONDS=2):
            assert weft.LEASE_SECONDS == 2
        assert weft.LEASE_SECONDS == 7.5
    assert weft.LEASE_SECONDS == 30.0


def test_settings_fixture_changes_are_seen(settings: Settings) -> None:
    settings.WEFT_DEFAULT_QUEUE = "elsewhere"
    assert weft.DEFAULT_QUEUE == "elsewhere"
    del settings.WEFT_DEFAULT_QUEUE
    assert weft.DEFAULT_QUEUE == "weft"


@pytest.mark.django_db
def test_a_lowered_ceiling_applies_to_the_next_submit_of_the_same_shape(settings: Settings) -> None:
    # The resolved shape of a spec (limits, retry, timeout, queue) is kept between submits; a changed
    # ceiling must not be hidden by it.
    job = submit("t.noop", limits={"memory_mb": 512})
    assert Job.objects.filter(pk=job.pk).exists()
    settings.WEFT_LIMIT_CEILINGS = {"memory_mb": 256}
    with pytest.raises(InvalidInput) as info:
        submit("t.noop", limits={"memory_mb": 512})
    assert info.value.field == "limits.memory_mb"
    assert "256" in str(info.value)
    settings.WEFT_DEFAULT_QUEUE = "other"
    job = submit("t.noop")
    assert job.tasks.get().queue == "other"
