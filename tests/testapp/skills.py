"""Skills the tests run on real workers."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from weft_django import NonRetryable, Outcome, command_skill, llm, skill
from weft_django.agents import agent_skill
from weft_django.loops import loop


@skill(name="t.add", params={"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                             "required": ["a", "b"]})
def add(a: float, b: float) -> float:
    return a + b


@skill(name="t.noop")
def noop() -> None:
    return None


@skill(name="t.flaky", retry={"max_attempts": 5, "backoff": 0.05})
def flaky(ctx: Any, succeed_on: int = 3) -> int:
    if ctx.attempt < succeed_on:
        raise ConnectionError(f"attempt {ctx.attempt} failed on purpose")
    return ctx.attempt


@skill(name="t.always_fails", retry={"max_attempts": 4, "backoff": 0.05})
def always_fails() -> None:
    raise ValueError("this skill always fails")


@skill(name="t.fatal")
def fatal() -> None:
    raise NonRetryable("no point retrying")


@skill(name="t.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@skill(name="t.blocked")
def blocked() -> Outcome:
    return Outcome.blocked("waiting for approval")


@skill(name="t.unserialisable")
def unserialisable() -> object:
    return object()


command_skill("t.echo", ["echo", "{text}"])
command_skill("t.sleep_cmd", ["sleep", "{seconds}"])
command_skill("t.exit", ["sh", "-c", "exit $0", "{code}"], retry={"max_attempts": 1})


# -- jobs: decomposition, runtime dependencies, cost --


@skill(name="t.square")
def square(x: int) -> int:
    return x * x


@skill(name="t.split")
def split(n: int = 20, join: bool = False) -> Outcome:
    """Decompose into ``n`` children; every child but each fourth depends on the one before it."""
    children = [{"key": f"c{i}", "skill": "t.square", "params": {"x": i},
                 **({"depends_on": [f"c{i - 1}"]} if i % 4 else {})} for i in range(n)]
    return Outcome.decompose(children, join={"skill": "t.sum_deps"} if join else None)


@skill(name="t.sum_deps")
def sum_deps(ctx: Any) -> float:
    return sum(ctx.dependencies.values())


@skill(name="t.needs_prep")
def needs_prep(ctx: Any) -> Any:
    if "prep" not in ctx.dependencies:
        return Outcome.blocked("needs its input prepared",
                               needs=[{"key": "prep", "skill": "t.add", "params": {"a": 20, "b": 22}}])
    return {"got": ctx.dependencies["prep"]}


@skill(name="t.needs_cycle")
def needs_cycle(ctx: Any) -> Outcome:
    return Outcome.blocked("needs a task that needs it", needs=[{"key": "loop", "skill": "t.noop",
                                                                  "depends_on": [ctx.key]}])


@skill(name="t.costly")
def costly(ctx: Any, cost: float = 1.0) -> int:
    ctx.report_cost(cost)
    return ctx.attempt


# ---- fault tests (tests/faults): a poison task, resource hogs, and isolated skills ----


@skill(name="t.poison", retry={"max_attempts": 3, "backoff": 0.05})
def poison() -> None:
    """SIGKILLs the worker process that runs it, every time: the poison message of Celery's nightmares."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@skill(name="t.hog", isolation="process", limits={"memory_mb": 100})
def hog(step_mb: int = 10, max_mb: int = 2000) -> int:
    """Allocates (and touches) memory until stopped."""
    chunks: list[bytes] = []
    while len(chunks) * step_mb < max_mb:
        chunks.append(b"x" * (step_mb * 2**20))
        time.sleep(0.05)
    return len(chunks) * step_mb


@skill(name="t.spin", isolation="process", limits={"cpu_seconds": 1})
def spin(seconds: float = 60.0) -> int:
    """Burns CPU until stopped."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


@skill(name="t.files", isolation="process", limits={"open_files": 20})
def files(n: int = 500) -> int:
    """Opens files and keeps them open until stopped."""
    import tempfile

    held = []
    for _ in range(n):
        held.append(tempfile.TemporaryFile())  # noqa: SIM115
        time.sleep(0.01)
    return len(held)


@skill(name="t.slow_isolated", isolation="process", limits={"wall_seconds": 1},
       retry={"max_attempts": 2, "backoff": 0.05})
def slow_isolated(seconds: float = 60.0) -> float:
    time.sleep(seconds)
    return seconds


@skill(name="t.isolated", isolation="process")
def isolated(ctx: Any, text: str = "") -> dict[str, Any]:
    """Runs in a child process: prints, reports a cost and reads its own task through the ORM."""
    import os

    from weft_django.models import Task

    print(text)
    ctx.report_cost(0.5)
    status = Task.objects.filter(pk=ctx.task_id).values_list("status", flat=True).first()
    return {"pid": os.getpid(), "attempt": ctx.attempt, "status": status}


@skill(name="t.report")
def report(pages: int = 2) -> Outcome:
    return Outcome.success({"pages": pages}, artifacts={"summary": f"{pages} pages", "sizes": [1] * pages})


@skill(name="t.restricted", permission="testapp.run_restricted")
def restricted() -> str:
    """Only users with testapp.run_restricted may run this through the HTTP API."""
    return "ok"


@skill(name="t.guarded", requires_approval=True)
def guarded(n: int = 1) -> int:
    """Runs only once someone approves it."""
    return n


# ---- recording (tests/workers/test_recording.py): what PostgreSQL would refuse, cost, result size ----
LONE_SURROGATE = "\ud800"  # not valid Unicode text: psycopg cannot encode it, jsonb refuses its escape


def _awkward(ctx: Any, how: str, size: int = 0) -> Any:
    if how == "print":
        print(f"before {LONE_SURROGATE} after")
        print("nul \x00 here", file=sys.stderr)
        return "printed"
    if how == "return":
        return {"text": f"x{LONE_SURROGATE}"}
    if how == "raise":
        raise ValueError(f"bad {LONE_SURROGATE} value \x00")
    if how == "block":
        return Outcome.blocked(f"waiting {LONE_SURROGATE}")
    if how == "big":
        return "x" * size
    if how == "big_artifact":
        return Outcome.success("small", artifacts={"blob": "x" * size})
    if how == "cost":
        ctx.report_cost(1.5)
        return Outcome.success(ctx.attempt, cost=2.0)
    raise NonRetryable(f"unknown how {how!r}")


@skill(name="t.awkward", retry={"max_attempts": 1})
def awkward(ctx: Any, how: str, size: int = 0) -> Any:
    """Prints, returns or raises what PostgreSQL would refuse, a result of ``size`` characters, or a cost."""
    return _awkward(ctx, how, size)


@skill(name="t.awkward_isolated", isolation="process", retry={"max_attempts": 1})
def awkward_isolated(ctx: Any, how: str, size: int = 0) -> Any:
    """t.awkward in a child process."""
    return _awkward(ctx, how, size)


command_skill("t.nul_cmd", ["printf", "before\\000after"])  # printf writes the NUL; argv cannot hold one


# -- issue 10: an attempt's processes never outlive its lease (tests/faults/test_supervisor.py) --
# Each writes "<pid>" lines into <dir>/pids: its own and a grandchild's that left its session, so
# neither the child's process group nor PR_SET_PDEATHSIG reaches it. A retry (pids present) ends at once.
FAMILY_SCRIPT = """
[ -e "$1/pids" ] && exit 0
setsid sleep 30 &
echo $$ >> "$1/pids"
echo $! >> "$1/pids"
sleep 30
"""
command_skill("t.family_cmd", ["sh", "-c", FAMILY_SCRIPT, "family", "{dir}"], retry={"max_attempts": 2})
# Starts a memory hog whose parent exits at once (an orphan, re-parented to the supervisor), then waits.
ORPHAN_HOG = "import time; x = b'x' * (400 * 2**20); time.sleep(30)"
command_skill("t.orphan_hog", ["sh", "-c", '("$0" -c "$1" &); sleep 30', sys.executable, ORPHAN_HOG],
              limits={"memory_mb": 150}, retry={"max_attempts": 1})
command_skill("t.missing", ["weft-no-such-program"])  # the supervisor cannot start it
# Leaves a daemon behind (a new session, its parent gone) and prints its pid.
command_skill("t.daemon", ["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 & echo $!"])


@skill(name="t.family_py", isolation="process", retry={"max_attempts": 2})
def family_py(dir: str) -> str:
    import os
    import subprocess

    pids = os.path.join(dir, "pids")
    if os.path.exists(pids):
        return "retry"
    grandchild = subprocess.Popen(["sleep", "30"], start_new_session=True)
    with open(pids, "a") as f:
        f.write(f"{os.getpid()}\n{grandchild.pid}\n")
    time.sleep(30)
    return "first"


# ---- loops (weft_django.loops) ----

@loop(name="t.loop_third", max_iterations=5, validate=lambda result, it: (result >= 3, f"{result} of 3 done"))
def loop_third(it: Any) -> int:
    it.note(f"step {it.number} saw {len(it.progress)} earlier iterations")
    it.report_cost(0.5)
    return it.number


@loop(name="t.loop_tokens", max_iterations=10, budget={"tokens": 1000}, validate=lambda result, it: False)
def loop_tokens(it: Any) -> None:
    it.report_tokens(400)


@loop(name="t.loop_file", max_iterations=4, validate=["test", "-f", "{path}"],
      params={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
def loop_file(it: Any, path: str) -> str:
    if it.number == 2:
        with open(path, "w") as f:
            f.write("made by iteration 2")
    return path


@loop(name="t.loop_slow", max_iterations=5, validate=lambda result, it: result >= 3, retry={"max_attempts": 3})
def loop_slow(it: Any, seconds: float = 0.0, marker: str = "") -> int:
    if it.number == 2 and marker and not os.path.exists(marker):  # the first time through iteration 2: hang
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(seconds)
    return it.number


@loop(name="t.loop_ask", max_iterations=5, validate=lambda result, it: result >= 3)
def loop_ask(it: Any, answer: str = "") -> Any:
    if it.number == 2 and not os.path.exists(answer):  # the answer comes as a file; unblocking runs it again
        return Outcome.blocked("which database should the migration target?")
    return it.number


@loop(name="t.loop_forever", max_iterations=1000, validate=lambda result, it: False)
def loop_forever(it: Any, seconds: float = 0.2) -> int:
    time.sleep(seconds)
    return it.number


# ---- loops calling a model (weft_django.llm, against weft_django.fake_model) ----

def _ask(it: Any, goal: str) -> str:
    """One iteration: the prompt from a template (its version recorded with the call), the answer the result."""
    return llm.chat(llm.render("testapp/llm_step.txt", {"it": it, "goal": goal}), it=it).text


def _says_pass(result: str, it: Any) -> tuple[bool, str]:
    return "PASS" in result, result.strip().splitlines()[-1] if result.strip() else "empty answer"


@loop(name="t.llm_loop", max_iterations=6, validate=_says_pass)
def llm_loop(it: Any, goal: str = "say PASS") -> str:
    return _ask(it, goal)


@loop(name="t.llm_loop_budget", max_iterations=6, budget={"tokens": 250}, validate=_says_pass)
def llm_loop_budget(it: Any, goal: str = "say PASS") -> str:
    return _ask(it, goal)


@skill(name="t.llm_once", retry={"max_attempts": 3, "backoff": 0.05})
def llm_once(ctx: Any, prompt: str = "hello") -> str:
    return llm.chat(prompt, ctx=ctx).text


# A Plan -> Spec -> Phase cascade: each level is a loop; the upper two decompose into child loops joined by a
# check, the phases iterate until their validation passes (on their second iteration).
@loop(name="t.plan", max_iterations=3, validate=lambda result, it: True)
def plan(it: Any, specs: int = 2, phases: int = 2) -> Outcome:
    return Outcome.decompose([{"key": f"spec{i}", "skill": "t.spec", "params": {"phases": phases}}
                              for i in range(specs)], join={"skill": "t.level_done"})


@loop(name="t.spec", max_iterations=3, validate=lambda result, it: True)
def spec(it: Any, phases: int = 2) -> Outcome:
    return Outcome.decompose([{"key": f"phase{i}", "skill": "t.phase"} for i in range(phases)],
                             join={"skill": "t.level_done"})


@loop(name="t.phase", max_iterations=4, validate=lambda result, it: (result >= 2, f"{result} of 2 passes"))
def phase(it: Any) -> int:
    it.report_tokens(10)
    return it.number


@skill(name="t.level_done")
def level_done(ctx: Any) -> dict[str, Any]:
    """The join of a level: every child passed (else the decomposition failed before it)."""
    return {"done": sorted(ctx.dependencies)}


# ---- live output ----
command_skill("t.ticks", ["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.4; done"])
# The same, slower: a follower started after it (a Django command starting on a busy machine, a second or
# two) still finds it running.
command_skill("t.slow_ticks", ["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 1.5; done"])


@skill(name="t.py_ticks")
def py_ticks(n: int = 6) -> int:
    for i in range(1, n + 1):
        print(f"py tick {i}", flush=True)
        time.sleep(0.4)
    return n


@skill(name="t.inc")
def inc(ctx: Any, by: float = 1) -> float:
    """A pipe stage (weft_pipe): the previous stage's result plus ``by``."""
    (previous,) = ctx.dependencies.values()
    return float(previous) + by


# ---- agent skills (weft_django.agents): a worktree of this repository per task; tests/workers/test_agents.py ----
AGENT_REPO = "/tmp/weft-test-agent-repo"
agent_skill("t.agent", ["sh", "-c", "echo {text} > new.txt && echo more >> README.md"], repo=AGENT_REPO,
            validate=["test", "-f", "new.txt"], evidence=["new.txt"], retry={"max_attempts": 1})
agent_skill("t.agent_wrong", ["sh", "-c", "echo wrong > other.txt"], repo=AGENT_REPO,
            validate=["test", "-f", "new.txt"], retry={"max_attempts": 1})


# ---- limits and locks (issue 12) ----


@skill(name="t.limited", concurrency=2)
def limited(seconds: float = 0.2) -> float:
    time.sleep(seconds)
    return seconds


@skill(name="t.per_tenant", concurrency={"key": "tenant-{tenant}", "limit": 1})
def per_tenant(tenant: str, seconds: float = 0.2) -> str:
    time.sleep(seconds)
    return tenant


@skill(name="t.locked", locks=["repo:{path}"])
def locked(path: str, seconds: float = 0.5) -> str:
    time.sleep(seconds)
    return path


@skill(name="t.rated", rate="5/s")
def rated() -> None:
    return None


# Two versions of one skill side by side (docs/user-guide.md, "Skill versions"): a submission may pin either.
@skill(name="t.greet", version="1")
def greet_v1(who: str = "world") -> str:
    return f"hello {who} (v1)"


@skill(name="t.greet", version="2")
def greet_v2(who: str = "world") -> str:
    return f"hello {who} (v2)"


# ---- routing by capability (docs/agents.md) ----
command_skill("t.gpu_echo", ["echo", "{text}"], capabilities=["gpu"])  # only a worker or an agent with "gpu"
command_skill("t.any_echo", ["echo", "{text}"])  # any agent may claim it, any worker reads it


@skill(name="t.gpu_add", capabilities=["gpu"])
def gpu_add(a: float, b: float) -> float:
    return a + b
