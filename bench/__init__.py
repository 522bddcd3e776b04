"""Benchmarks: weft_django against plain Celery, django-celery-results and procrastinate, in one run."""
