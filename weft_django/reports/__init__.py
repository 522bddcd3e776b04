"""Reads for people: a job's status, its (partial) results, and ``explain``: why it ended as it did, told
only from its decisions and attempts; what runs now; and the lists the admin, the API and the commands show
(every adapter reads through here, or through ``service``).

One module per concern: ``jobs`` (a job, its status, spec, failures, attempts), ``results``, ``explain``,
``activity`` (running tasks, unread queues, the dashboard), ``visibility`` (what a user sees) and ``listing``
(the commands' and the admin's lists).
"""

from __future__ import annotations

from ..models import Decision  # reachable here as before this became a package
from .activity import FAILURE_WINDOW, RECENT, known_queues, overview, running_tasks, unread_queues
from .explain import explain, explain_page
from .jobs import FAILURES_SHOWN, attempts, failures, get_job, job_spec, page_bounds, status, task_status
from .listing import first, ids, newest_jobs, skills, user_named
from .lone import lone_skill, lone_task
from .results import result_page, results
from .visibility import (
    SkillDef,
    check_sees_all_jobs,
    job_list,
    job_tasks,
    runnable_skills,
    task_details,
    visible_jobs,
    visible_rows,
    visible_tasks,
)

__all__ = [
    "FAILURES_SHOWN", "FAILURE_WINDOW", "RECENT", "Decision", "SkillDef", "attempts", "check_sees_all_jobs",
    "explain", "explain_page", "failures", "first", "get_job", "ids", "job_list", "job_spec", "job_tasks",
    "known_queues", "lone_skill", "lone_task", "newest_jobs", "overview", "page_bounds", "result_page", "results",
    "runnable_skills",
    "running_tasks", "skills", "status", "task_details", "task_status", "unread_queues", "user_named",
    "visible_jobs", "visible_rows", "visible_tasks",
]
