"""Settings of the processes a fault test starts (workers, the sweep loop): short leases, read from the environment."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

WEFT_LEASE_SECONDS = float(os.environ.get("WEFT_LEASE_SECONDS", 3))
WEFT_HEARTBEAT_INTERVAL = float(os.environ.get("WEFT_HEARTBEAT_INTERVAL", 1))
WEFT_SWEEP_INTERVAL = float(os.environ.get("WEFT_SWEEP_INTERVAL", 1))
WEFT_REDISPATCH_AFTER = float(os.environ.get("WEFT_REDISPATCH_AFTER", 5))
WEFT_WORKER_OFFLINE_AFTER = float(os.environ.get("WEFT_WORKER_OFFLINE_AFTER", 5))
# Chunks of tasks per message (batched execution): on, as by default, unless a test's environment says otherwise.
WEFT_BATCH_SIZE = int(os.environ.get("WEFT_BATCH_SIZE", 20))
# A busy producer's publishes grouped (weft_django/grouping.py): off unless a test's producer asks.
WEFT_SUBMIT_GROUP_MS = float(os.environ.get("WEFT_SUBMIT_GROUP_MS", 0))
