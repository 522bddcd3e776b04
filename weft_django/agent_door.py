"""The door of agents outside Celery (the HTTP claim API calls these, through ``service.agent_door``).

Every call takes the acting user and checks ``weft.act_as_agent`` first; an agent is only ever spoken for by
the user who registered it (another's is "no such agent", as another's job is). Bodies are read by
``agent_bodies`` (InvalidInput names the field); the claim, the renewal and the report are
``lifecycle/external.py``'s, fenced like a Celery worker's; a lost lease raises LeaseLost (409 over HTTP).
Registrations and claims are audited with who did them.
"""

from __future__ import annotations

import re
from typing import Any

from . import agent_bodies, governance, registry
from .access import ACT_AS_AGENT
from .conf import settings
from .exceptions import InvalidInput, NotAllowed, UnknownId, WeftError
from .lifecycle import external
from .models import Agent, AuditAction

ID_RE = re.compile(r"^[0-9]{1,19}\Z")


def _check(user: Any) -> None:
    if not getattr(user, "is_authenticated", False) or not user.has_perm(ACT_AS_AGENT):
        raise NotAllowed(f"acting as an agent needs the permission {ACT_AS_AGENT}")


def _agent(user: Any, agent_id: Any) -> Agent:
    _check(user)
    text = str(agent_id)
    pk = int(text) if ID_RE.match(text) else None  # not str.isdigit: it takes "²", which int() refuses
    found = None if pk is None or pk > agent_bodies.MAX_TASK_ID else (
        Agent.objects.filter(pk=pk, registered_by_id=user.pk).first())
    if found is None:
        raise UnknownId(f"no agent {str(agent_id)[:30]!r} registered by you")
    return found


def set_enabled(agent_id: int, enabled: bool, *, by: Any = None, via: str = "code") -> None:
    """The operator's switch: an agent switched off claims nothing more (what it holds it may still finish)."""
    Agent.objects.filter(pk=agent_id).update(enabled=bool(enabled))
    governance.audit(AuditAction.AGENT_SWITCH, by, via, target=str(agent_id), detail={"enabled": bool(enabled)})


def describe(agent: Agent) -> dict[str, Any]:
    return {"id": agent.pk, "name": agent.name, "capabilities": list(agent.capabilities), "enabled": agent.enabled,
            "lease_seconds": settings.LEASE_SECONDS, "heartbeat_interval": settings.HEARTBEAT_INTERVAL}


def register(user: Any, data: Any) -> tuple[dict[str, Any], bool]:
    """Register an agent (name, capabilities), or update the capabilities of the caller's agent of that name.
    Returns it and whether it is new; a name another user registered is refused."""
    _check(user)
    r = agent_bodies.registration(data)
    agent, created = Agent.objects.get_or_create(name=r.name, defaults={
        "capabilities": list(r.capabilities), "registered_by_id": user.pk})
    if agent.registered_by_id != user.pk:
        raise InvalidInput("name", f"agent {r.name!r} is registered by another user")
    if not created and list(agent.capabilities) != list(r.capabilities):
        Agent.objects.filter(pk=agent.pk).update(capabilities=list(r.capabilities))
        agent.capabilities = list(r.capabilities)
    governance.audit(AuditAction.AGENT_REGISTER, user, "api", target=r.name,
                     detail={"agent": agent.pk, "capabilities": list(r.capabilities), "new": created})
    return describe(agent), created


def claim(user: Any, agent_id: Any, data: Any) -> dict[str, Any] | None:
    """Claim the next task the agent can do: what to run, under which token; None when there is none."""
    agent = _agent(user, agent_id)
    req = agent_bodies.claim_request(data)
    if not agent.enabled:
        raise NotAllowed(f"agent {agent.name!r} is switched off (its row in the admin): it may claim nothing")
    c = external.claim_next(agent.pk, agent.name, agent.capabilities, req.skills, req.pid)
    if c is None:
        return None
    governance.audit(AuditAction.AGENT_CLAIM, user, "api", task_id=c.task_id, job_id=c.job_id, target=agent.name,
                     detail={"agent": agent.pk, "attempt": c.token})
    return {"task": c.task_id, "job": c.job_id, "token": c.token, "attempt_id": c.attempt_id, "key": c.key,
            "skill": c.skill_name, "params": c.params, "argv": _argv(c.skill_name, c.params),
            "capabilities": list(c.capabilities or ()), "timeout": c.timeout, "limits": c.limits,
            "dependencies": c.dependencies or {}, "lease_seconds": settings.LEASE_SECONDS,
            "heartbeat_interval": settings.HEARTBEAT_INTERVAL}


def _argv(skill: str, params: dict[str, Any]) -> list[str] | None:
    """The skill's own command line for these params (an agent may run it instead of its own); None if the
    skill or its template changed since the task was submitted."""
    try:
        return registry.render_argv(registry.get(skill), params)
    except WeftError:
        return None


def heartbeat(user: Any, agent_id: Any, data: Any) -> dict[str, Any]:
    """Renew the lease of the agent's attempt (LeaseLost once it is not the current one)."""
    agent = _agent(user, agent_id)
    held = agent_bodies.heartbeat(data, settings.OUTPUT_LIMIT)
    return {"task": held.task, "token": held.token,
            **external.renew(agent.pk, agent.name, held.task, held.token, held.output)}


def report(user: Any, agent_id: Any, data: Any) -> dict[str, Any]:
    """Report what became of the agent's attempt: the outcome its attempt was closed with (LeaseLost: discarded)."""
    agent = _agent(user, agent_id)
    held, obs = agent_bodies.report(data, settings.OUTPUT_LIMIT)
    closed = external.record(agent.pk, agent.name, held.task, held.token, obs)
    return {"task": held.task, "token": held.token, "outcome": closed}
