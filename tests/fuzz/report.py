"""The figures of a run, and its failing inputs saved for reproduction."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections import Counter
from pathlib import Path

from tests.fuzz.campaign import Figures, Violation
from tests.fuzz.cases import preview, to_json

SHOWN_KINDS = 25
_NUMBERS = re.compile(r"\d+(?= bytes| chars| s\b)|\d{4,}")


def grouped(violations: list[Violation]) -> dict[str, list[Violation]]:
    """Violations of one kind together (the same text but for its numbers), most first."""
    groups: dict[str, list[Violation]] = {}
    for violation in violations:
        kind = _NUMBERS.sub("N", violation.what.split(":", 1)[0])[:120]
        groups.setdefault(kind, []).append(violation)
    return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def lines(f: Figures) -> list[str]:
    s = f.settings
    out = [
        f"make fuzz — seed {s.seed}, {f.target}",
        f"  asked for {s.webhooks} webhooks and {s.requests} gateway/gRPC requests, "
        f"at most {s.max_seconds / 60:.0f} min; a stall check every {s.stall_every} inputs "
        f"(bound {s.stall_seconds:.0f} s)",
    ]
    if f.stopped_by_time:
        out.append("  STOPPED BY THE TIME LIMIT before every input was tried")
    for name in ("webhook", "ingest_http", "gateway", "grpc"):
        kinds = {k.split(" ", 1)[1]: n for k, n in f.tried.items() if k.startswith(name + " ")}
        total = sum(kinds.values())
        out.append(f"  {name:11} {total:6d} tried: " + _counts(Counter(kinds)))
        if name in f.answers:
            label = "codes" if name == "grpc" else "statuses"
            out.append(f"  {'':11} {label}: " + _counts(f.answers[name]))
    grpc_answers = f.answers.get("grpc", Counter())
    out.append(
        f"  gRPC UNKNOWN {grpc_answers['UNKNOWN']}, INTERNAL {grpc_answers['INTERNAL']}; "
        f"5xx from ingest {_five_hundreds(f.answers.get('webhook'))}, "
        f"(other requests {_five_hundreds(f.answers.get('ingest_http'))}), "
        f"from the gateway {_five_hundreds(f.answers.get('gateway'))}"
    )
    out.append(
        f"  stall checks {f.stall_checks}, stalls {f.stalls}; demo reply at the sandbox "
        f"{_spread(f.reply_seconds)}; in the read models {_spread(f.read_model_seconds)}"
    )
    out.append(
        f"  backlog drained before each check in {_spread(f.drain_seconds)}; demo reply while "
        f"a round was being sent {_spread(f.under_load_seconds)}"
    )
    out.append(
        f"  customers who sent hostile input and wrote again: {f.follow_ups}, "
        f"unanswered {f.follow_ups_unanswered}"
    )
    out.append(
        f"  valid messages stored exactly once: {f.valid_once} of {f.valid_expected}; "
        f"unsigned bodies sent {f.unsigned_sent}, kept 0 expected "
        f"(scanned {dict(f.scanned)}; {f.events_read} events read from the EventLog)"
    )
    out.append(
        f"  valid messages found in the read models: {f.in_read_models} of a sample of "
        f"{f.read_model_sample}; dead letters: {_counts(f.dead_letters)}"
    )
    for reason, count in f.dead_reasons.most_common(5):
        out.append(f"    dead-lettered after ingest {count} times: {reason}")
    tried = sum(f.tried.values())
    out.append(
        f"  throughput {tried / max(f.fuzz_seconds, 1e-9):.0f} inputs/s while fuzzing, "
        f"{tried / max(f.total_seconds, 1e-9):.0f} inputs/s over the whole run "
        f"({f.total_seconds:.0f} s; this process used {f.cpu_seconds:.0f} s of CPU)"
    )
    groups = grouped(f.violations)
    out.append(f"  violations: {len(f.violations)}, of {len(groups)} kinds")
    for found in list(groups.values())[:SHOWN_KINDS]:
        first = found[0]
        out.append(f"    - {len(found)} times: {first.what[:400]}")
        for case in first.cases[:1]:
            out.append(f"      input ({case.kind}, {case.note[:150]}): {_case_preview(case)}")
        if len(first.cases) > 1:
            out.append(f"      ({len(first.cases)} inputs saved with it)")
    if len(groups) > SHOWN_KINDS:
        out.append(f"    … and {len(groups) - SHOWN_KINDS} more kinds (all saved)")
    return out


def save_failures(f: Figures, folder: Path) -> Path | None:
    """One JSON file per violation (with its inputs, exact, base64) and a summary."""
    if not f.violations:
        return None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index, violation in enumerate(f.violations):
        (folder / f"{index:04d}.json").write_text(json.dumps(_violation_json(violation), indent=1))
    (folder / "summary.txt").write_text("\n".join(lines(f)) + "\n")
    return folder


def _violation_json(violation: Violation) -> dict[str, object]:
    return {
        "violation": violation.what,
        "answer": violation.outcome.answer if violation.outcome else None,
        "detail": violation.outcome.detail if violation.outcome else None,
        "cases": [to_json(case) for case in violation.cases],
    }


def _case_preview(case: object) -> str:
    for name in ("body", "request", "target"):
        raw = getattr(case, name, None)
        if isinstance(raw, bytes) and raw:
            return preview(raw, 200)
    return ""


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common()) or "none"


def _five_hundreds(answers: Counter[str] | None) -> int:
    return sum(n for a, n in (answers or Counter()).items() if a.isdigit() and int(a) >= 500)


def _spread(seconds: list[float]) -> str:
    if not seconds:
        return "n/a"
    return (
        f"max {max(seconds):.2f} s (median {statistics.median(seconds):.2f} s, "
        f"{len(seconds)} checks)"
    )
