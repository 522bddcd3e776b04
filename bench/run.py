"""Run the benchmarks: ``python bench/run.py [--n 5000] [--latency-n 300] [--only a,b,c,d] [--out bench/results]``.

See docs/performance.md; ``--help`` lists every option.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, sys.path[0] is bench/ itself: put the project root there so ``bench`` is a package.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from bench.orchestrate import main

    main()
