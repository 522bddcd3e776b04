"""Reading a job file (``manage.py weft_submit --file``): JSON or YAML to the data ``JobSpec.parse`` takes.

Kept out of jobspec.py, the parser, which reads no files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .exceptions import InvalidInput


def load_file(path: str | Path) -> Any:
    """Read a job file (.json, or YAML otherwise); a syntax error names the line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {p}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput("file", f"{p.name}: not UTF-8 text (byte {exc.start})") from None
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput("file", f"{p.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                          f"{exc.msg}") from None
        except RecursionError:
            raise InvalidInput("file", f"{p.name}: nested too deep") from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise InvalidInput("file", f"{p.name}: nested too deep") from None
    except (ValueError, OverflowError) as exc:  # a value YAML's own types refuse: a date 2026-13-45 (month 13)
        raise InvalidInput("file", f"{p.name}: invalid YAML value: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput("file", f"{p.name}: invalid YAML{where}: {problem}") from None
