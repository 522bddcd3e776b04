"""Unit tier: pure functions and single-transaction guards, no worker processes."""

from __future__ import annotations
