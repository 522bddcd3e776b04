"""The markdown report of one benchmark run (the JSON holds everything; this is the readable part)."""

from __future__ import annotations

from typing import Any

from bench.workloads import table

CPU_GROUPS = ("worker_pool", "worker_main", "producer", "pg_backends", "pg_server", "redis")


def _lat(lat: dict[str, Any], key: str) -> str:
    p = lat.get(key) or {}
    return f"{p.get('p50', 0):.1f} / {p.get('p95', 0):.1f} / {p.get('p99', 0):.1f}" if p else "-"


def _ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.2f}" if x and y else "-"


def systems_table(systems: dict[str, Any]) -> list[str]:
    lines = ["| system | tasks/s (end to end) | enqueue/s | enqueue→start p50/p95/p99 ms | enqueue→done p50/p95/p99 ms "
             "| CPU ms/task (all / own) | SQL statements/task | server xacts/task | pool RSS MB start→end |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, s in systems.items():
        t, lat = s.get("throughput", {}), s.get("latency", {})
        rss = ", ".join(f"{a:.0f}→{b:.0f}" for a, b in zip(t.get("rss_mb_start", []), t.get("rss_mb_end", []),
                                                            strict=False))
        xacts = t.get("db_stats_per_task", {}).get("xact_commit")
        lines.append(
            f"| ({name}) {s.get('title', '')} | {t.get('throughput', '-')} | {t.get('enqueue_rate', '-')} "
            f"| {_lat(lat, 'enqueue_to_start')} | {_lat(lat, 'enqueue_to_done')} "
            f"| {t.get('cpu_ms_per_task_total', '-')} / {t.get('cpu_ms_per_task_own', '-')} "
            f"| {t.get('sql_per_task', '-')} | {xacts if xacts is not None else '-'} | {rss or '-'} |")
    return lines


def index_reads(systems: dict[str, Any]) -> list[str]:
    """The indexes each system reads most per task: a lookup reads ~1 entry; a scan grows with the table."""
    lines = []
    for name, s in systems.items():
        reads = s.get("throughput", {}).get("index_entries_read_per_task", {})
        if reads:
            top = ", ".join(f"`{k}` {v}" for k, v in list(reads.items())[:5])
            lines.append(f"- ({name}): {top}")
    return lines


def cpu_table(systems: dict[str, Any]) -> list[str]:
    lines = ["| system | " + " | ".join(CPU_GROUPS) + " | SQL/task by process |",
             "|---|" + "---:|" * len(CPU_GROUPS) + "---|"]
    for name, s in systems.items():
        t = s.get("throughput", {})
        per = t.get("cpu_ms_per_task", {})
        sql = ", ".join(f"{k} {v}" for k, v in t.get("sql_per_task_by_role", {}).items())
        lines.append(f"| ({name}) | " + " | ".join(f"{per.get(g, 0):.3f}" for g in CPU_GROUPS) + f" | {sql or '-'} |")
    return lines


def ratios_table(systems: dict[str, Any]) -> list[str]:
    d = systems.get("d")
    if not d:
        return []
    dt, dl = d.get("throughput", {}), d.get("latency", {})
    lines = ["| (d) ÷ | throughput | enqueue rate | start p50 | done p50 | CPU/task (all) | CPU/task (own) "
             "| SQL/task |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in systems.items():
        if name == "d":
            continue
        t, lat = s.get("throughput", {}), s.get("latency", {})
        lines.append(
            f"| ({name}) | {_ratio(dt.get('throughput'), t.get('throughput'))} "
            f"| {_ratio(dt.get('enqueue_rate'), t.get('enqueue_rate'))} "
            f"| {_ratio(dl.get('enqueue_to_start', {}).get('p50'), lat.get('enqueue_to_start', {}).get('p50'))} "
            f"| {_ratio(dl.get('enqueue_to_done', {}).get('p50'), lat.get('enqueue_to_done', {}).get('p50'))} "
            f"| {_ratio(dt.get('cpu_ms_per_task_total'), t.get('cpu_ms_per_task_total'))} "
            f"| {_ratio(dt.get('cpu_ms_per_task_own'), t.get('cpu_ms_per_task_own'))} "
            f"| {_ratio(dt.get('sql_per_task'), t.get('sql_per_task'))} |")
    return lines


def targets(result: dict[str, Any]) -> list[str]:
    s, w = result.get("systems", {}), result.get("weft", {})
    d = s.get("d", {}).get("throughput", {})
    rows: list[tuple[str, str, bool | None]] = []

    def tp(name: str) -> float:
        return float(s.get(name, {}).get("throughput", {}).get("throughput") or 0)

    if d and "a" in s:
        rows.append(("throughput ≥ 0.5 x (a)", f"{tp('d'):.0f} vs {0.5 * tp('a'):.0f}", tp("d") >= 0.5 * tp("a")))
        ca, cd = s["a"]["throughput"]["cpu_ms_per_task_total"], d["cpu_ms_per_task_total"]
        rows.append(("CPU/task ≤ 2 x (a)", f"{cd:.2f} vs {2 * ca:.2f} ms", cd <= 2 * ca))
    if d and ("b" in s or "c" in s):
        best = max(tp("b"), tp("c"))
        rows.append(("throughput ≥ 0.9 x max((b), (c))", f"{tp('d'):.0f} vs {0.9 * best:.0f}", tp("d") >= 0.9 * best))
    p50 = s.get("d", {}).get("latency", {}).get("enqueue_to_start", {}).get("p50")
    if p50 is not None:
        rows.append(("enqueue→start p50 ≤ 5 ms", f"{p50:.1f} ms", p50 <= 5))
    if d.get("rss_mb_start"):
        growth = max(b - a for a, b in zip(d["rss_mb_start"], d["rss_mb_end"], strict=False))
        rows.append((f"worker RSS flat (over {d['n']} tasks, target: 50,000)", f"+{growth:.1f} MB max", growth < 5))
    sc = w.get("scale", {})
    if sc:
        b = sc["bulk_submit"]
        rows.append((f"bulk submit of {b['tasks']} tasks ≥ 2,000/s", f"{b['tasks_per_s']:.0f}/s",
                     b["tasks_per_s"] >= 2000))
        large = sc["large"]
        st = large["status_ms"]["median_ms"]
        rows.append((f"status of a {b['tasks']:,}-task job ≤ 100 ms at {large['task_rows']:,} task rows",
                     f"{st:.1f} ms", st <= 100))
        hq = large["hot_queries"]
        sweep = hq.get("sweep", {})
        rows_label = f"at {large['task_rows']:,} task rows (target: 1,000,000)"
        if "median_ms" in sweep:
            rows.append((f"sweep ≤ 200 ms {rows_label}", f"{sweep['median_ms']:.1f} ms", sweep["median_ms"] <= 200))
        else:
            q = hq["expired"]["median_ms"] + hq["undelivered"]["median_ms"]
            rows.append((f"sweep ≤ 200 ms {rows_label} (its two reads only; no sweep module)", f"{q:.2f} ms",
                         q <= 200))
        cr = sc.get("claim_record_interleaved")
        if cr:
            rows.append((f"claim+record cost {rows_label} within 10% of a small table (median of alternating rounds)",
                         f"{cr['large_ms']:.2f} vs {cr['small_ms']:.2f} ms (x{cr['ratio']:.2f})", cr["ratio"] <= 1.10))
    lines = ["| target | measured | met |", "|---|---|:-:|"]
    lines += [f"| {a} | {b} | {'yes' if ok else 'NO'} |" for a, b, ok in rows]
    return lines


def lone_targets(s: dict[str, Any]) -> list[str]:
    """Issue 15's lone-task targets, for (d) and (e) (weft with its producer's publishes grouped)."""
    def get(name: str, *path: str) -> float | None:
        v: Any = s.get(name, {})
        for k in path:
            v = v.get(k, {}) if isinstance(v, dict) else {}
        return float(v) if isinstance(v, int | float) else None

    peers = [x for x in (get("b", "throughput", "throughput"), get("c", "throughput", "throughput")) if x]
    plain_cpu = get("a", "throughput", "cpu_ms_per_task_total")
    lines = ["| target | " + " | ".join(f"({w})" for w in ("d", "e") if w in s) + " |",
             "|---|" + "---|" * sum(w in s for w in ("d", "e"))]

    def row(label: str, measure: Any) -> None:
        cells = [measure(w) for w in ("d", "e") if w in s]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def mark(ok: bool) -> str:
        return "yes" if ok else "NO"

    if peers:
        best = max(peers)
        row(f"throughput ≥ 1.2 x max((b), (c)) = {1.2 * best:.0f}/s", lambda w: (
            f"{get(w, 'throughput', 'throughput') or 0:.0f} ({(get(w, 'throughput', 'throughput') or 0) / best:.2f} x) "
            f"{mark((get(w, 'throughput', 'throughput') or 0) >= 1.2 * best)}"))
    if plain_cpu:
        row(f"CPU/task ≤ 2 x (a) = {2 * plain_cpu:.2f} ms", lambda w: (
            f"{get(w, 'throughput', 'cpu_ms_per_task_total') or 0:.2f} ms "
            f"{mark((get(w, 'throughput', 'cpu_ms_per_task_total') or 0) <= 2 * plain_cpu)}"))
    row("enqueue→start p50 ≤ 3 ms", lambda w: (
        f"{get(w, 'latency', 'enqueue_to_start', 'p50') or 0:.1f} ms "
        f"{mark((get(w, 'latency', 'enqueue_to_start', 'p50') or 99) <= 3)}"))
    return lines


def scale_section(sc: dict[str, Any]) -> list[str]:
    lines = ["| | small table | large table |", "|---|---:|---:|"]
    sm, lg = sc["small"], sc["large"]
    lines.append(f"| task rows | {sm['task_rows']} | {lg['task_rows']} |")
    lines.append(f"| status of the bulk job, median ms | {sm['status_ms']['median_ms']} "
                 f"| {lg['status_ms']['median_ms']} |")
    for k in ("claim_ms_median", "record_ms_median", "claim_record_ms_mean"):
        lines.append(f"| {k} (one pass each, before and after the fill) | {sm['claim_record'][k]} "
                     f"| {lg['claim_record'][k]} |")
    cr = sc.get("claim_record_interleaved")
    if cr:
        lines.append(f"| claim+record median ms, alternating rounds {cr['rounds_ms']['small']} / "
                     f"{cr['rounds_ms']['large']} | {cr['small_ms']} | {cr['large_ms']} |")
    for q in ("expired", "undelivered"):
        lines.append(f"| sweep read `{q}`, median ms | {sm['hot_queries'][q]['median_ms']} "
                     f"| {lg['hot_queries'][q]['median_ms']} |")
    lines += ["", "Plans: the sweep's reads and the status query at the large table (EXPLAIN ANALYZE); claim and "
              "record of a fresh task (EXPLAIN, not executed) at both sizes:", ""]
    for q in ("expired", "undelivered"):
        lines.append(f"- `{q}`: {' → '.join(lg['hot_queries'][q]['nodes'])}")
    lines.append(f"- status of a job: {' → '.join(sc['status_explain']['nodes'])}")
    for size in ("small", "large"):
        for step, plans in sc[size].get("hot_path_plans", {}).items():
            for nodes in plans:
                lines.append(f"- {step} ({size} table): {' → '.join(nodes)}")
    b = sc["bulk_submit"]
    lines += ["", f"Bulk submission of {b['tasks']} tasks: {b['seconds']} s = {b['tasks_per_s']} tasks/s "
              f"(validation {b['validate_seconds']} s, publishing {b['publish_seconds']} s, insert ≈ "
              f"{b['insert_seconds_estimate']} s); {sc['fill']['rows']} rows inserted in "
              f"{sc['fill']['insert_seconds']} s."]
    pr = sc.get("prune")
    if pr:
        lines += ["", f"Retention (weft_prune, batch by batch): {pr['tasks']} task rows of {pr['jobs']} jobs "
                      f"deleted in {pr['seconds']} s = {pr['tasks_per_s']} rows/s; longest transaction "
                      f"{pr['longest_batch_ms']} ms, median {pr['median_batch_ms']} ms."]
    return lines


def steps_section(steps: dict[str, Any]) -> list[str]:
    lines = []
    for step in ("submit", "claim", "record"):
        st = steps[step]
        lines += [f"**{step}**: {st['queries']} queries + {st['begin_commit']} BEGIN/COMMIT = "
                  f"{st['round_trips']} round trips", ""]
        lines += [f"{i}. `{q}`" for i, q in enumerate(st["sql"], 1)] + [""]
    sp = steps.get("start_path")
    if sp:
        on, off = sp["synchronous_commit=on"], sp["synchronous_commit=off"]
        lines += ["**From `submit` to the skill's body and its record**, one task at a time, in-process (ms; the "
                  "last column with this session's commits asynchronous, to show what the WAL flushes cost):", "",
                  "| step | p50 | p90 | p50, synchronous_commit off |", "|---|---:|---:|---:|"]
        lines += [f"| {name} | {v['p50']} | {v['p90']} | {off[name]['p50']} |" for name, v in on.items()]
        lines += [f"| to the body (sum of p50s up to it) | {sum(v['p50'] for v in list(on.values())[:7]):.3f} | | "
                  f"{sum(v['p50'] for v in list(off.values())[:7]):.3f} |", ""]
    prof = steps.get("profile", {})
    for phase in ("submit", "execute"):
        p = prof.get(phase)
        if not p:
            continue
        lines += [f"**{phase}** (in-process, {prof['n']} tasks): {p['wall_ms_per_task']} ms wall per task, of which "
                  f"{p['db_ms_per_task']} ms waiting on SQL (BEGIN/COMMIT excluded). cProfile self time, ms/task:", ""]
        lines += [f"- {k}: {v}" for k, v in p["self_ms_per_task"].items()] + [""]
    return lines


def profile_section(wp: dict[str, Any]) -> list[str]:
    if "self_ms_per_task" not in wp:
        return [wp.get("error", "")]
    lines = [f"Pool processes under cProfile ({wp['clock']}), {wp['tasks']} tasks; self time, ms/task:", ""]
    lines += [f"- {k}: {v}" for k, v in wp["self_ms_per_task"].items()]
    lines += ["", "| function | calls/task | cumulative ms/task | self ms/task |", "|---|---:|---:|---:|"]
    lines += [f"| `{r['function']}` | {r['calls_per_task']} | {r['cum_ms_per_task']} | {r['self_ms_per_task']} |"
              for r in wp["top_cumulative"]]
    lines += ["", "weft's own functions by cumulative time (ms/task, profiler overhead included):", "",
              "| weft function | calls/task | cumulative ms/task |", "|---|---:|---:|"]
    lines += [f"| `{r['function']}` | {r['calls_per_task']} | {r['cum_ms_per_task']} |"
              for r in wp.get("weft_functions", [])]
    return lines


def markdown(result: dict[str, Any]) -> str:
    hw, v, c = result["hardware"], result["versions"], result["config"]
    out = [f"# weft_django benchmark, {result['started']}", "",
           f"Hardware: {hw['nproc']} CPUs ({hw['cpu_model']}), {hw['memory_gb']} GB; load average at start "
           f"{hw['load_avg_at_start']}.  ",
           "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".  ",
           f"Config: N={c['n']} (throughput), {c['latency_n']} sequential tasks (latency), "
           f"{c['pool_processes']} worker processes per system, Celery prefetch multiplier {c['prefetch']} "
           f"for (a) and (b), {c.get('weft_prefetch', c['prefetch'])} for (d).", ""]
    if result["systems"]:  # the lone workload ran (--workloads lone, the default)
        out += [*systems_table(result["systems"]), "", "CPU ms per task by process group:", "",
                *cpu_table(result["systems"]), "",
                "Index entries read per task (pg_stat_user_indexes; a primary-key lookup reads about 1):", "",
                *index_reads(result["systems"]), ""]
    if "d" in result["systems"] and len(result["systems"]) > 1:
        out += ["Ratios of (d) weft_django to each other system (throughput: higher is better for weft; the rest: "
                "lower is better):", "", *ratios_table(result["systems"]), ""]
    if result["systems"]:
        out += ["Issue 3 targets:", "", *targets(result), ""]
        if {"d", "e"} & set(result["systems"]):
            out += [f"Issue 15's lone-task targets ((e): the producer's publishes grouped, WEFT_SUBMIT_GROUP_MS "
                    f"{c.get('weft_group_ms', '-')}):", "", *lone_targets(result["systems"]), ""]
    g = result.get("governance")
    if g:
        lim, rate = g["limited"], g["rated"]
        out += ["## weft's limits across workers (g)", "",
                f"- limit 2, {lim['pool_processes']} pool processes, {lim['tasks']} tasks: most running at once "
                f"**{lim['max_overlap']}** ({lim['attempts']} attempts, {lim['tasks_per_s']} tasks/s, job "
                f"{lim['job_status']})",
                f"- rate {rate['rate']}, all {rate['tasks']} submitted at once: **{rate['admitted']}** started in "
                f"{rate['window_s']:g} s (expected {rate['expected']:g}, {rate['error_pct']:+g} %; "
                f"{rate['defer_decisions']} defer decisions)", ""]
    if result.get("workloads"):
        out += ["## Bulk workloads (bench/workloads.py)", "",
                f"WEFT_BATCH_SIZE of (d)'s workers: {c.get('weft_batch_size') or 'unset'}.", "",
                *table(result["workloads"])]
    w = result.get("weft", {})
    if w.get("scale"):
        out += ["## weft at scale", "", *scale_section(w["scale"]), ""]
    if w.get("weft_steps"):
        out += ["## weft per task: statements and time", "", *steps_section(w["weft_steps"]), ""]
    if w.get("worker_profile"):
        out += ["## weft's Celery worker, profiled", "", *profile_section(w["worker_profile"]), ""]
    return "\n".join(out) + "\n"
