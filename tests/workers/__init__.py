"""Integration tier: real PostgreSQL, Redis and Celery worker subprocesses."""
