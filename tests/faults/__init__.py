"""Fault tier: real PostgreSQL, Redis and worker processes that are killed, frozen and restarted."""

from __future__ import annotations
