"""The types of the weft_* commands' arguments (argparse ``type=``): each refuses a bad value with a one-line reason."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, NoReturn

from ..exceptions import InvalidInput
from ..validators import check_text

MAX_BIGINT = 2**63 - 1  # ids and counts go to bigint columns and LIMITs


def _loads_strict(text: str) -> Any:
    def refuse(constant: str) -> NoReturn:
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def param(text: str) -> tuple[str, Any]:
    """``k=v``: the value as JSON when it parses (``3``, ``true``, ``[1, 2]``), else the string itself."""
    key, raw = key_value(text)
    try:
        return key, _loads_strict(raw)
    except ValueError:
        return key, raw


def json_object(text: str) -> dict[str, Any]:
    try:
        value = _loads_strict(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {type(value).__name__}")
    return value


def number(text: str) -> float | int:
    """A finite number; whether it is in range is the domain's to say (it names the field)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def limit(text: str) -> tuple[str, float | int]:
    key, raw = key_value(text)
    try:
        return key, number(raw)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"limit {key}: {exc}") from None


def positive_float(text: str) -> float:
    value = float(number(text))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = float(number(text))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    if value > MAX_BIGINT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BIGINT}, got {text!r}")
    return value


def name(value: str) -> str:
    """A login or a name as typed; refused if it holds what no row can (``validators.check_text``): a NUL, or
    bytes the locale could not decode, which Python keeps as lone surrogates (``--user $'\\xff'``)."""
    try:
        check_text(value, "")
    except InvalidInput as exc:
        if "\x00" in value:
            raise argparse.ArgumentTypeError(exc.message) from None
        raise argparse.ArgumentTypeError(f"holds bytes that are not text in this locale: {value!r}") from None
    return value


def path(value: str) -> Path:
    """A file's path, refused as ``name`` refuses (``open`` raised on either)."""
    return Path(name(value))


def record_id(kind: str, text: str) -> int:
    """``text`` as the id of a ``kind`` ("job", "task"); the error names which."""
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"a {kind} id is a positive whole number, got {text!r}") from None


def job_id(text: str) -> int:
    return record_id("job", text)


def task_id(text: str) -> int:
    return record_id("task", text)
