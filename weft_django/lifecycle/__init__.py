"""The life of a task, one module per event (docs/architecture.md).

- ``submit``: a job and its tasks are written, the ready ones handed off after commit.
- ``claim``: a worker takes a queued task under a new lease (the fencing token goes up by one).
- ``report``: an attempt ended (success, failure, cancel); ``expand``: it decomposed or added needs.
- ``recover``: an attempt was lost (lease expired, process died): the sweep and the worker's orphan check.
- ``control``: cancel, approve, reject.
- ``graph``: what follows a final task (release, skip, finish parents and the job, stuck, stop).
- ``ledger``: the only writer of decision rows and attempt closes.
- ``rows``: new task and dependency rows; ``budget``: a job's budget; ``pg``: the PostgreSQL fast versions' plumbing.

Task and job status change only through ``weft_django.transitions`` (guarded compare-and-set writes).
Nothing here imports Celery: ready work goes to ``weft_django.handoff``.
"""
