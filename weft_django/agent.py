"""A small client of the HTTP claim API for agents outside Celery (standard library only: urllib).

    client = AgentClient("https://ops.example.com/api/weft/", user="gpu-box", password=os.environ["PW"])
    client.register("gpu-box-1", ["gpu", "python3.12"])
    task = client.claim()                      # None: nothing it can do now
    client.heartbeat(task["task"], task["token"])   # every task["heartbeat_interval"] seconds while it runs
    client.report(task["task"], task["token"], "succeeded", result={"answer": 42})

Authentication is DRF's, as the project configures it: HTTP Basic (``user``/``password``; DRF's default
``BasicAuthentication``) or a token (``token``: sent as ``Authorization: Token ...``, for DRF's
``TokenAuthentication``). Use HTTPS: both travel in every request. A heartbeat or a report for a lease the agent
lost raises LeaseLost (the server answered 409); any other refusal raises AgentError with the server's answer.
``manage.py weft_agent`` runs a command for each claimed task with this client (agent_loop.py).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from .exceptions import LeaseLost, WeftError


class AgentError(WeftError):
    """The server refused a call (or could not be reached: ``status`` 0); ``body`` is its answer."""

    def __init__(self, status: int, body: Any, url: str) -> None:
        super().__init__(f"{url}: HTTP {status}: {body}" if status else f"{url}: {body}")
        self.status = status
        self.body = body


class AgentClient:
    """Register once, then claim, heartbeat and report as that agent (``agent_id``)."""

    def __init__(self, url: str, *, user: str | None = None, password: str | None = None, token: str | None = None,
                 timeout: float = 30.0) -> None:
        self.url = url if url.endswith("/") else f"{url}/"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        elif user is not None:
            pair = f"{user}:{password or ''}".encode()
            self.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        self.agent_id: int | None = None
        self.agent: dict[str, Any] = {}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST ``body`` as JSON to ``path`` (under the API's URL); the status and the decoded answer."""
        url = f"{self.url}{path}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                answer = json.loads(raw) if raw else None
            except ValueError:
                answer = raw[:500].decode("utf-8", "replace")
            return exc.code, answer
        except (urllib.error.URLError, OSError) as exc:
            raise AgentError(0, str(getattr(exc, "reason", exc)), url) from exc

    def _call(self, path: str, body: dict[str, Any], ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        status, answer = self.post(path, body)
        if status == 409 and isinstance(answer, dict) and answer.get("lease_lost"):
            raise LeaseLost(int(answer.get("task") or 0), int(answer.get("token") or 0), str(answer.get("detail")))
        if status not in ok:
            raise AgentError(status, answer, f"{self.url}{path}")
        return status, answer

    def _agent_path(self, verb: str) -> str:
        if self.agent_id is None:
            raise AgentError(0, "register first", self.url)
        return f"agents/{self.agent_id}/{verb}/"

    def register(self, name: str, capabilities: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """Register (or update the capabilities of) this agent; its id is kept for the other calls."""
        _, answer = self._call("agents/", {"name": name, "capabilities": list(capabilities)}, (200, 201))
        self.agent_id, self.agent = int(answer["id"]), dict(answer)
        return self.agent

    def claim(self, skills: list[str] | None = None, pid: int | None = None) -> dict[str, Any] | None:
        """The next task this agent can do, claimed under a new lease (``token``); None when there is none."""
        body: dict[str, Any] = {}
        if skills:
            body["skills"] = list(skills)
        if pid is not None:
            body["pid"] = pid
        status, answer = self._call(self._agent_path("claim"), body, (200, 204))
        return None if status == 204 else dict(answer)

    def heartbeat(self, task: int, token: int, stdout: str | None = None, stderr: str | None = None
                  ) -> dict[str, Any]:
        """Renew the lease (LeaseLost once it is lost); ``cancel_requested`` in the answer: stop and report."""
        body: dict[str, Any] = {"task": task, "token": token}
        if stdout is not None or stderr is not None:
            body |= {"stdout": stdout or "", "stderr": stderr or ""}
        return dict(self._call(self._agent_path("heartbeat"), body)[1])

    def report(self, task: int, token: int, outcome: str, **fields: Any) -> dict[str, Any]:
        """Report ``succeeded`` (``result=``), ``failed`` (``error=``, ``retryable=``) or ``cancelled``; also
        ``exit_code``, ``stdout``, ``stderr``, ``duration``, ``error_type``, ``cost``. LeaseLost: not applied."""
        return dict(self._call(self._agent_path("report"), {"task": task, "token": token, "outcome": outcome,
                                                             **fields})[1])
