"""Admin for operators: jobs, tasks, attempts and decisions are read-only (the engine owns them);
actions call the same service functions as the API and the commands, and every list is cut by ``reports``
to what the user may see. One module per page family; importing them registers them."""

from __future__ import annotations

from .. import governance_admin  # registers Policy, PolicyDecision and AuditEntry
from . import agents, jobs, others, tasks

__all__ = ["agents", "governance_admin", "jobs", "others", "tasks"]
