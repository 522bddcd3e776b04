"""(e) weft_django as (d), with a producer that groups its publishes: WEFT_SUBMIT_GROUP_MS (weft_django/grouping.py).

BENCH_WEFT_GROUP_MS sets the window (``python bench/run.py --weft-group-ms``; default 5 ms).
"""

from __future__ import annotations

import os

from bench.settings_d import *  # noqa: F403

WEFT_SUBMIT_GROUP_MS = float(os.environ.get("BENCH_WEFT_GROUP_MS", "5"))
