"""Turn benchmark results into benchmarks/results/README.md and the plots."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata

from tracejit.compare import fmt_time

PEERS = ["autograd", "jax", "jaxlib", "torch", "numba", "numpy", "matplotlib"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib():
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, text=True,
                              capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info():
    versions = {}
    for name in PEERS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
            "os": platform.platform(), "python": sys.version.split()[0],
            "versions": versions, "tracejit_commit": _commit(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ---- tables ------------------------------------------------------------------------------------
def _columns(results):
    """Row names in first-seen order: numpy, tracejit[...], autograd, jax, torch."""
    seen = []
    for rec in results:
        for row in rec["rows"]:
            if row["peer"] not in seen:
                seen.append(row["peer"])
    return seen


def _short_failure(note):
    if note.startswith("skipped"):
        return "not installed"
    if "UnsupportedError" in note or "not supported" in note:
        return "unsupported"
    name = note.removeprefix("failed: ").split(":", 1)[0]
    if name == "Timeout":
        return "timeout"
    return f"fails ({name})"


def _cell(row, first=False):
    if row is None:
        return ""
    if row["per_call"] is None:
        return _short_failure(row["note"])
    if first:
        return fmt_time(row["first_call"])
    text = fmt_time(row["per_call"])
    if row["what"] == "gradient" and row["ratio_to_numpy"]:
        text += f" ({row['ratio_to_numpy']:.3g}×)"
    if row["agrees"].startswith("NO"):
        text += " **disagrees**"
    return text


def _table(results, label, first=False):
    cols = _columns(results)
    head = [label] + [f"{c} fwd" if c == "numpy" else c for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rec in results:
        rows = {r["peer"]: r for r in rec["rows"]}
        name = rec["workload"] + (f" n={rec['size']:,}" if rec["size"] else "")
        lines.append("| " + " | ".join([name] + [_cell(rows.get(c), first) for c in cols]) + " |")
    return "\n".join(lines)


def _failures(results):
    """Every distinct failure reason, once, so the short table cells can be looked up."""
    seen = {}
    for rec in results:
        for row in rec["rows"]:
            if row["per_call"] is None and not row["note"].startswith("skipped"):
                seen.setdefault((row["peer"], row["note"]), rec["workload"])
    return [f"- {peer} on {w}: {note}" for (peer, note), w in seen.items()]


def _overhead_lines(overhead):
    lines = ["| backend | per call | dispatch + result | guard checks | running |",
             "|---|---|---|---|---|"]
    for r in overhead:
        if "error" in r:
            lines.append(f"| {r['backend']} | fails: {r['error']} | | | |")
            continue
        lines.append(f"| {r['backend']} | {fmt_time(r['per_call'])} | "
                     f"{fmt_time(r['dispatch_and_result'])} | {fmt_time(r['guard_checks'])} | "
                     f"{fmt_time(r['running'])} |")
    return "\n".join(lines)


def markdown(data):
    m = data["machine"]
    ref = [r for r in data["results"] if r["kind"] == "reference"]
    sweep = [r for r in data["results"] if r["kind"] == "sweep"]
    skipped = sorted({r["peer"] for rec in data["results"] for r in rec["rows"]
                      if r["note"].startswith("skipped")})
    load = m.get("load_average")
    parts = [
        "# Benchmark results",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; "
        f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f". tracejit {m['tracejit_commit']}, backends {', '.join(data['backends'])}; "
        f"run {m['date']}" + (f", load average {load[0]:.1f} at start" if load else "") + ".",
        "",
        "Time per gradient call: median of "
        f"{data['repeat']} timed runs after a separate first call and 0.2 s of warm-up calls; in "
        "parentheses the ratio to plain NumPy running the *forward* pass alone (the floor). "
        "Gradients are checked against tracejit's numpy executor; a peer that disagrees is "
        "marked. " + (f"Math libraries limited to {data['threads']} thread(s) in every peer "
        "(`--threads`). " if data.get("threads") else "") + "Each peer runs in a fresh process; "
        "the machine is shared, so expect noise of tens of percent. Regenerate with "
        "`python benchmarks/run.py`.",
        "" if not skipped else f"Not installed here (skipped): {', '.join(skipped)}.",
        "",
        "![size sweep](sweep.png)",
        "",
        "## Reference workloads (`reference_workloads.py`)",
        "",
        _table(ref, "workload"),
        "",
        "First call (tracing and compiling included):",
        "",
        _table(ref, "workload", first=True),
        "",
        "## Size sweep",
        "",
        _table(sweep, "workload, size"),
        "",
        "## Per-call overhead of tracejit (gradient of `sum(x * x)`, 3 elements)",
        "",
        _overhead_lines(data["overhead"]),
        "",
        "## Why peers failed",
        "",
        *(_failures(data["results"]) or ["(none)"]),
        "",
    ]
    return "\n".join(parts)


def write_all(data, out):
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(markdown(data))
    import plots
    plots.sweep_plot(data, os.path.join(out, "sweep.png"))


if __name__ == "__main__":
    # re-render README.md and the plots from a saved results.json
    import json
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "results", "results.json")
    with open(path) as f:
        saved = json.load(f)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    write_all(saved, os.path.dirname(os.path.abspath(path)))
