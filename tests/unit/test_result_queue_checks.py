"""System checks of WEFT_MAX_RESULT_BYTES and WEFT_QUEUES (weft.E05x)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks as django_checks
from pytest_django import Settings

from weft_django.checks import check_results_and_queues


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
    assert (message.id, message.level) == ("weft.E050", django_checks.ERROR)
    assert "WEFT_MAX_RESULT_BYTES" in message.msg and repr(value) in message.msg
