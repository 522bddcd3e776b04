"""Reads for people: a job's status, its (partial) results, and ``explain``: why it ended as it did, told
only from its decisions and attempts; what runs now; and the lists the admin, the API and the commands show
(every adapter reads through here, or through ``service``).

One module per concern: ``jobs`` (a job, its status, spec, failures, attempts), ``results``, ``explain``,
``activity`` (running tasks, unread queues, the dashboard), ``visibility`` (what a user sees), ``listing``
(the commands' and the admin's lists); for the admin's pages, ``pages`` (a job's page: cause, tasks, graph,
timeline), ``task_page`` (a task's attempts, decisions and neighbours) and ``lists`` (list columns, filters).
"""

from __future__ import annotations

from ..models import Decision  # reachable here as before this became a package
from .activity import FAILURE_WINDOW, RECENT, known_queues, overview, running_tasks, unread_queues
from .analytics import analytics
from .dashboard import dashboard
from .events import event_job, event_task
from .explain import explain, explain_page
from .filtering import JobFilter, TaskFilter, filter_error
from .follow import follow
from .governance import job_governance, policy_explain, policy_validate, visible_governance
from .jobs import FAILURES_SHOWN, attempts, failures, get_job, job_spec, page_bounds, status, task_pk, task_status
from .listing import first, ids, newest_jobs, skills, user_named
from .lone import lone_skill, lone_task
from .loops import iterations, loop_lines
from .metrics import metrics_snapshot
from .processes import task_of_pid, top
from .results import result_page, results
from .visibility import (
    SkillDef,
    check_sees_all_jobs,
    job_list,
    job_tasks,
    runnable_skills,
    task_details,
    task_list,
    visible_jobs,
    visible_rows,
    visible_tasks,
)

__all__ = [
    "FAILURES_SHOWN", "FAILURE_WINDOW", "RECENT", "Decision", "JobFilter", "SkillDef", "TaskFilter",
    "analytics", "attempts",
    "check_sees_all_jobs", "dashboard", "event_job", "event_task", "explain", "explain_page", "failures",
    "filter_error", "first",
    "follow", "get_job", "ids", "iterations", "job_governance", "job_list", "job_spec", "job_tasks", "known_queues",
    "lone_skill", "lone_task", "loop_lines", "metrics_snapshot", "newest_jobs", "overview", "page_bounds",
    "policy_explain", "policy_validate",
    "result_page", "results", "runnable_skills", "running_tasks", "skills", "status", "task_details", "task_list",
    "task_of_pid", "task_pk",
    "task_status", "top", "unread_queues", "user_named", "visible_governance", "visible_jobs", "visible_rows",
    "visible_tasks",
]
