"""The soak's verdicts: the worker's incidents against `hub correlate` offline per planted rule,
the latency goals, and the PASS/FAIL report printed at the end.

Apart from the run (benchmarks/soak.py) so that how a soak is judged reads in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.incidents import Seen, final_versions, incident_view
from benchmarks.soak_traffic import PLANTED_RULES
from benchmarks.soak_watch import INFO_METRICS, REREAD_METRIC, RESTART_LINE, Watch
from hub.codec import event_enums, event_fields, load_codec
from hub.core.rule_loading import load_rules
from hub.settings import Settings


@dataclasses.dataclass
class RuleRow:
    rule: str
    planted: int = 0
    expected: int = 0
    published: int = 0  # expected ids whose published final version equals the offline one
    missing: int = 0
    differs: int = 0
    pending: int = 0  # offline incidents completed after the cutoff (not judged)
    delays: list[float] = dataclasses.field(default_factory=list)
    #: from the first version's event time to the first record of the id, of any status
    #: (PROVISIONAL when early alerts are on)
    alert_delays: list[float] = dataclasses.field(default_factory=list)


def compare(offline: list[dict[str, Any]], seen: list[Seen], *, end_ms: int,
            lateness_ms: dict[str, int], margin_ms: int,
            planted: Counter[str]) -> tuple[dict[str, RuleRow], list[str]]:
    """Per rule: expected (offline, completed before the rule's cutoff) vs published."""
    off_final = final_versions(offline)
    first_time = {r["incident_id"]: r["emitted_time"] for r in offline if r["version"] == 1}
    online: dict[str, dict[str, Any]] = {}
    first_seen: dict[tuple[str, int], float] = {}
    first_any: dict[str, float] = {}
    for s in seen:
        if s.record is None:
            continue
        first_any.setdefault(s.record["incident_id"], s.at)
        if s.record.get("status", "CONFIRMED") != "CONFIRMED":
            continue  # early alerts: the comparison with offline is on confirmed versions
        key = (s.record["incident_id"], s.record["version"])
        first_seen.setdefault(key, s.at)
        held = online.get(key[0])
        if held is None or key[1] > held["version"]:
            online[key[0]] = s.record
    rows: dict[str, RuleRow] = {r: RuleRow(r, planted=planted[r]) for r in PLANTED_RULES}
    problems: list[str] = []
    for iid, rec in sorted(off_final.items(), key=lambda kv: kv[1]["last_event_time"]):
        rule = rec["rule_id"]
        row = rows.setdefault(rule, RuleRow(rule))
        cutoff = end_ms - lateness_ms.get(rule, 30_000) - margin_ms
        if rec["last_event_time"] > cutoff:
            row.pending += 1
            continue
        row.expected += 1
        got = online.get(iid)
        if got is None:
            row.missing += 1
            problems.append(f"MISSING online: {rule} {iid} {incident_view(rec)}")
        elif incident_view(got) != incident_view(rec):
            row.differs += 1
            a, b = incident_view(got), incident_view(rec)
            fields = [k for k in a if a[k] != b[k]]
            problems.append(f"DIFFERS {rule} {iid} in {fields}: online={a} offline={b}")
        else:
            row.published += 1
            at = first_seen[(iid, rec["version"])]
            row.delays.append(at - rec["last_event_time"] / 1000)
            row.alert_delays.append(first_any[iid] - first_time.get(iid, 0) / 1000)
    for iid, rec in sorted(online.items()):
        if iid not in off_final:
            rows.setdefault(rec["rule_id"], RuleRow(rec["rule_id"]))
            problems.append(f"EXTRA online (never emitted offline): {rec['rule_id']} {iid} "
                            f"{incident_view(rec)}")
    return rows, problems


def lateness_by_rule(settings: Settings, rules_dir: Path | None) -> dict[str, int]:
    """Each rule's allowed lateness: the largest of the sources it reads (sources.yaml)."""
    codec = load_codec(settings.schemas_dir)
    pack = load_rules(rules_dir or settings.rules_dir, event_fields(codec), event_enums(codec))
    return {r.id: max(pack.policy(k).lateness for k in r.sources) for r in pack.rules}


def latency_goals(rows: dict[str, RuleRow], max_first: float,
                  lateness_ms: dict[str, int]) -> list[tuple[str, bool | None, str]]:
    """The latency goals (BENCHMARKS.md §5): p99 over every judged situation of the first
    publication (PROVISIONAL or CONFIRMED) and, per rule, of the confirmed version against the
    rule's lateness + 3 s."""
    first = [d for r in rows.values() for d in r.alert_delays]
    print(f"\nlatency over {len(first)} published situations (wall time from the completing "
          "event's production, event_time = now, to this reader getting the record)")
    print(f"  first publication: p50 {pct(first, 0.5):.2f} s  p99 {pct(first, 0.99):.2f} s  "
          f"max {max(first, default=float('nan')):.2f} s")
    goals: list[tuple[str, bool | None, str]] = [(
        f"first publication p99 <= {max_first:g} s", bool(first) and pct(first, 0.99) <= max_first,
        f"p99 {pct(first, 0.99):.2f} s over {len(first)}")]
    late = []
    for row in rows.values():
        if not row.delays:
            continue
        bound = lateness_ms.get(row.rule, 30_000) / 1000 + 3.0
        p99 = pct(row.delays, 0.99)
        print(f"  confirmed {row.rule:<24} p50 {pct(row.delays, 0.5):6.2f} s  p99 {p99:6.2f} s"
              f"  (goal <= {bound:g} s)")
        if p99 > bound:
            late.append(f"{row.rule} {p99:.1f} s > {bound:g} s")
    goals.append(("confirmed p99 <= lateness + 3 s", not late and bool(first),
                  "; ".join(late) or "every rule"))
    return goals


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def report(args: argparse.Namespace, watch: Watch, rows: dict[str, RuleRow],
           problems: list[str], seen: list[Seen], *, rss_start: tuple[float, int, int] | None,
           rss_end: tuple[float, int, int] | None, warmup: float, worker_exit: int | None,
           produced: int, seconds: float, diagnostic: str = "", undelivered: int = 0) -> int:
    goals: list[tuple[str, bool | None, str]] = []
    print("\n## soak results (taken while the traffic was still flowing)")
    print(f"events produced {produced:,} in {seconds:.0f} s ({produced / seconds:,.1f} ev/s)")
    if undelivered:  # recorded but not on the topics: offline would expect what never arrived
        goals.append(("every event delivered", False, f"{undelivered} not delivered"))

    restarts = len([x for x in watch.restart_lines if RESTART_LINE in x])
    pids = len(watch.child_pids)
    print(f"self-restarts: {restarts} (supervisor log lines); worker pids seen: {pids}"
          + (f"  {watch.child_pids}" if pids > 1 else ""))
    for line in watch.restart_lines[:10]:
        print(f"    {line}")
    if worker_exit is not None:
        print(f"`hub worker` itself exited with status {worker_exit} during the run")
    goals.append(("no self-restart", restarts == 0 and pids <= 1 and worker_exit is None,
                  f"{restarts} restart(s), {pids} worker pid(s)"
                  + (f", supervisor exited {worker_exit}" if worker_exit is not None else "")))

    rereads = watch.metric_total(REREAD_METRIC)
    if rereads is None and watch.scrapes_ok:
        # Since ADR 0005 the worker has no watchdog and re-reads nothing: nothing to count.
        goals.append(("no watchdog re-fetch", True, "0 (no re-fetch mechanism since ADR 0005)"))
    elif rereads is None:
        goals.append(("no watchdog re-fetch", None, "n/a (/metrics unreachable)"))
    else:
        goals.append(("no watchdog re-fetch", rereads == 0, f"{rereads:g}"))
    print(f"watchdog re-fetches ({REREAD_METRIC}): {goals[-1][2]}")
    info = []
    for name in INFO_METRICS:
        total = watch.metric_total(name)
        info.append(f"{name} {'n/a' if total is None else f'{total:g}'}")
    print("  also: " + ", ".join(info))

    rate = args.rate
    after = [m for t, m in watch.lag if t >= warmup]
    during = [m for t, m in watch.lag if t < warmup]
    if after:
        worst = max(after)
        print(f"source lag after the {warmup:.0f} s warm-up ({len(after)} samples, 1/s): max "
              f"{worst:,} msgs = {worst / rate:.2f} s of traffic; p99 {pct(after, 0.99) / rate:.2f}"
              f" s; mean {statistics.fmean(after) / rate:.2f} s"
              + (f"; {watch.lag_errors} failed samples" if watch.lag_errors else ""))
        goals.append((f"source lag <= {args.max_lag:g} s", worst / rate <= args.max_lag,
                       f"max {worst / rate:.2f} s"))
    else:
        goals.append((f"source lag <= {args.max_lag:g} s", False, "no samples after warm-up"))
    if during:
        print(f"  during the warm-up: max {max(during):,} msgs = {max(during) / rate:.2f} s "
              "(not judged)")

    print(f"\nincidents (expected: offline, completing event older than the rule's lateness + "
          f"{args.margin:g} s at the end; published: read from hub.incidents while the traffic "
          "flowed, final version per id)")
    print(f"  {'rule':<24}{'planted':>8}{'expected':>9}{'published':>10}{'missing':>8}"
          f"{'differs':>8}{'pending':>8}{'delay s median/max':>20}"
          f"{'first alert s med/max':>23}")
    expected = published = 0
    for row in rows.values():
        expected += row.expected
        published += row.published
        delay = (f"{statistics.median(row.delays):.1f} / {max(row.delays):.1f}"
                 if row.delays else "-")
        alert = (f"{statistics.median(row.alert_delays):.1f} / {max(row.alert_delays):.1f}"
                 if row.alert_delays else "-")
        print(f"  {row.rule:<24}{row.planted:>8}{row.expected:>9}{row.published:>10}"
              f"{row.missing:>8}{row.differs:>8}{row.pending:>8}{delay:>20}{alert:>23}")
    print("  (delay: from the completing event's time to when this reader got the confirmed "
          "final version; first alert: from the first version's event time to the first record "
          "of the id, PROVISIONAL or CONFIRMED; pending: completed after the cutoff, not judged)")
    undecodable = sum(1 for x in seen if x.record is None)
    if undecodable:
        problems.append(f"{undecodable} undecodable message(s) on hub.incidents")
    for line in problems[:30]:
        print(f"  {line}")
    if len(problems) > 30:
        print(f"  ... {len(problems) - 30} more")
    planted = sum(r.planted for r in rows.values())
    print(f"  {len(seen)} incident version(s) read from hub.incidents while the traffic flowed "
          f"(no `hub flush` before the figures); {planted} situations planted")
    goals.append(("expected == published", not problems and expected > 0,
                  f"{published} of {expected} expected, {len(problems)} problem(s)"))
    if args.latency_goals:
        goals += latency_goals(rows, args.max_first_alert, args.lateness_ms)
    if diagnostic:
        print("  " + diagnostic.replace("\n", "\n    "))

    if rss_start is not None and rss_end is not None:
        growth = 100.0 * (rss_end[2] - rss_start[2]) / rss_start[2]
        same = rss_start[1] == rss_end[1]
        print(f"worker RSS: {rss_start[2] / 2**20:.1f} MB at {rss_start[0]:.0f} s, "
              f"{rss_end[2] / 2**20:.1f} MB at {rss_end[0]:.0f} s: {growth:+.1f} %"
              + ("" if same else " (NOT the same process: it restarted)"))
        goals.append((f"RSS growth <= {args.max_rss_growth:g} %",
                      None if args.latency_goals else same and growth <= args.max_rss_growth,
                      f"{growth:+.1f} %" + (" (not judged in a latency run)"
                                            if args.latency_goals else "")))
    else:
        goals.append((f"RSS growth <= {args.max_rss_growth:g} %", False, "not measured"))

    print()
    failed = False
    for name, ok, detail in goals:
        verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        failed |= ok is False
        print(f"{verdict}  {name}: {detail}")
    print("SOAK " + ("FAILED" if failed else "PASSED"))
    return 1 if failed else 0
