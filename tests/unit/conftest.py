"""Hypothesis settings for the unit tier: no per-example deadline on a shared, busy CI machine."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# A 200 ms deadline or the too_slow health check would fail a correct property when other test tiers
# load the two cores; correctness, not speed, is what these properties check.
settings.register_profile(
    "weft-unit", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)
settings.load_profile("weft-unit")
