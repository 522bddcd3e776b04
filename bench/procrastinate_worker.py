"""Entry point of one procrastinate worker process: count its SQL, then run ``procrastinate worker``."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_c")


def main() -> None:
    from bench import sqlcount

    sqlcount.install()
    import django
    from django.core.management import call_command

    django.setup()
    concurrency = sys.argv[1] if len(sys.argv) > 1 else "1"
    call_command("procrastinate", "worker", "--concurrency", concurrency)


if __name__ == "__main__":
    main()
