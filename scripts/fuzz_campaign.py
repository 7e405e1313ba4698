"""Differential fuzzing campaign: N random programs per family on one backend, in a time budget.

Prints a table (family, programs, wrong values, wrong gradients, refused, crashed, ...) with the
commonest refusal and crash messages of each family, and writes the first few failures of every
family, shrunk to a minimal program (statements deleted while the failure stays the same), to a
reproducer file. Programs come from tests/fuzz_families.py and are judged by
tests/fuzz_oracle.py, the same generator and oracle as tests/test_fuzz.py; a program is
reproduced by its family and seed (`--families F --first-seed S --programs 1`).

    python scripts/fuzz_campaign.py --programs 250 --budget 280               # numpy backend
    python scripts/fuzz_campaign.py --backend numba --programs 10 --budget 280
    python scripts/fuzz_campaign.py --redteam --programs 300 --budget 280     # tests/fuzz_redteam.py

`--redteam` runs the red-team generator instead (its own families, judged strictly: types,
dtypes, exception classes; tests/fuzz_redteam.py), shrinking failures snippet by snippet.
"""
import argparse
import collections
import os
import re
import signal
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from fuzz_families import FAMILIES, random_case  # noqa: E402
from fuzz_oracle import (CALL_SCALES, CRASHED, FAILURES, REFUSED, Outcome,  # noqa: E402
                         call_sequence, compile_program, make_inputs, namespace_for, run_case)

COLUMNS = ["programs", "ok", "wrong value", "wrong gradient", "refused", "crashed", "skipped"]


class ProgramTimeout(Exception):
    """One program ran past its time limit (a hang counts as a crash)."""


def _on_alarm(signum, frame):
    raise ProgramTimeout("program ran longer than the per-program limit")


def run_limited(case, backend, seconds):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return run_case(case, backend)
    except ProgramTimeout as error:          # raised outside run_case's own handler
        return Outcome(CRASHED, f"ProgramTimeout: {error}", error)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def reason(outcome):
    """The first line of an error, without the generated file's name and line."""
    first = outcome.detail.split("\n")[0]
    first = re.sub(r"<fuzz-\d+>:\d+: ", "", first)
    return re.sub(r"\S+/(\w+\.py):\d+: ", r"\1: ", first)[:140]


# ---- the campaign --------------------------------------------------------------------------------
class FamilyReport:
    def __init__(self, family):
        self.family = family
        self.counts = collections.Counter()
        self.reasons = {REFUSED: collections.Counter(), CRASHED: collections.Counter()}
        self.failures = []             # (case, outcome), in the order found
        self.seconds = 0.0


def run_family(family, args, deadline):
    report = FamilyReport(family)
    start = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.programs):
        if time.perf_counter() > deadline:
            break
        case = random_case(family, seed)
        outcome = run_limited(case, args.backend, args.program_seconds)
        report.counts["programs"] += 1
        report.counts[outcome.kind] += 1
        if outcome.kind in report.reasons:
            report.reasons[outcome.kind][reason(outcome)] += 1
        if outcome.kind in FAILURES:
            report.failures.append((seed, case, outcome))
    report.seconds = time.perf_counter() - start
    return report


def print_table(reports, backend):
    print(f"\nbackend: {backend}")
    head = f"{'family':14}" + "".join(f"{c:>16}" for c in COLUMNS) + f"{'seconds':>10}"
    print(head)
    print("-" * len(head))
    total = collections.Counter()
    for r in reports:
        total.update(r.counts)
        print(f"{r.family:14}" + "".join(f"{r.counts[c]:>16}" for c in COLUMNS)
              + f"{r.seconds:>10.0f}")
    print("-" * len(head))
    print(f"{'all':14}" + "".join(f"{total[c]:>16}" for c in COLUMNS))
    for r in reports:
        for kind, counter in r.reasons.items():
            for text, n in counter.most_common(3):
                print(f"  {r.family} {kind} x{n}: {text}")


# ---- minimal reproducers -------------------------------------------------------------------------
def _removable_blocks(lines):
    """(start, end) of every statement with its indented body, last first; not the def line of
    prog, nor its final return."""
    blocks = []
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith("def prog") or line.startswith("    return "):
            continue
        indent = len(line) - len(line.lstrip())
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or
                                    len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        blocks.append((i, end))
    return blocks[::-1]


def _return_variants(lines):
    """The program with one term fewer in its returned sum, for each term."""
    last = lines[-1]
    terms = last[len("    return "):].split(" + ")
    for k in range(len(terms)) if len(terms) > 1 else ():
        yield lines[:-1] + ["    return " + " + ".join(terms[:k] + terms[k + 1:])]


def _candidates(source):
    lines = source.rstrip("\n").split("\n")
    for i, end in _removable_blocks(lines):
        yield lines[:i] + lines[end:]
    yield from _return_variants(lines)


def plain_finishes(case, seconds):
    """Whether the plain program ends on every input of the call sequence. Deleting a loop's
    step can make it loop forever; checked on plain Python alone, since an alarm that
    interrupts a numba build leaves numba's state broken."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        namespace = namespace_for(case)
        try:
            fn = compile_program(case.source, namespace)
        except Exception:             # noqa: BLE001 — a deletion broke the module's code
            return False
        for _, inputs, change in call_sequence(case, namespace):
            if change is not None:
                change(namespace)
            try:
                fn(*inputs)
            except ProgramTimeout:
                raise
            except Exception:         # noqa: BLE001 — the oracle judges a failing plain call
                pass
        return True
    except ProgramTimeout:
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def shrink(case, outcome, args, deadline):
    """Delete statements (and returned terms) while the program fails the same way."""
    best, best_outcome = case, outcome
    started = time.perf_counter()
    plain_finishes(case, args.program_seconds)
    limit = max(0.5, 3 * (time.perf_counter() - started))
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for lines in _candidates(best.source):
            if time.perf_counter() > deadline:
                break
            source = "\n".join(lines) + "\n"
            try:
                compile(source, "<shrink>", "exec")
            except SyntaxError:
                continue
            candidate = best.with_source(source)
            if not plain_finishes(candidate, limit):
                continue
            result = run_limited(candidate, args.backend, args.program_seconds)
            if result.signature == outcome.signature:
                best, best_outcome, improved = candidate, result, True
                break
    return best, best_outcome


def _inputs_text(case):
    lines = [f"x{i} = np.array({x.tolist()!r})" for i, x in enumerate(
        make_inputs(case.shapes, case.seed))]
    if case.global_shape is not None:
        g = make_inputs([case.global_shape], case.seed + 1)[0]
        lines.append(f"G = np.array({g.tolist()!r})")
    return "\n".join(lines)


def write_reproducers(reports, args):
    chosen = [(r.family, *failure) for r in reports for failure in r.failures[:args.reproducers]]
    end = time.perf_counter() + args.shrink_seconds
    with open(args.out, "w") as out:
        out.write(f"# Fuzz campaign reproducers (backend {args.backend})\n\n"
                  f"Calls: the inputs below times {CALL_SCALES}, then (with G) G *= -1.3 in "
                  f"place and G rebound to G * 0.5 + 0.2; value_and_grad first, then jit.\n")
        for k, (family, seed, case, outcome) in enumerate(chosen):   # shrink time shared
            deadline = time.perf_counter() + (end - time.perf_counter()) / (len(chosen) - k)
            small, small_outcome = shrink(case, outcome, args, deadline)
            out.write(f"\n## {family}, seed {seed}: {outcome.kind}\n\n"
                      f"{small_outcome.detail}\n\n```python\n{small.source}```\n\n"
                      f"```python\n{_inputs_text(small)}\n```\n")
    print(f"\nreproducers: {args.out}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "numba"])
    p.add_argument("--programs", type=int, default=100, help="programs per family")
    p.add_argument("--families", default=None, help="comma-separated (default: all)")
    p.add_argument("--budget", type=float, default=280.0,
                   help="seconds for running programs, shared equally by the families")
    p.add_argument("--shrink-seconds", type=float, default=120.0)
    p.add_argument("--program-seconds", type=float, default=60.0)
    p.add_argument("--reproducers", type=int, default=3, help="shrunk failures per family")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--out", default="fuzz_reproducers.md")
    p.add_argument("--no-roll", action="store_true",
                   help="leave short loops unrolled (by default they roll as long loops do)")
    p.add_argument("--redteam", action="store_true",
                   help="run tests/fuzz_redteam.py's programs (--programs in all, from "
                        "--first-seed; --families among its own) instead")
    return p.parse_args(argv)


def run_redteam(args):
    """The red-team campaign: its table, and its shrunk failures written to --out."""
    import fuzz_redteam
    families = args.families.split(",") if args.families else None
    with open(args.out, "w") as out:
        out.write(f"# Red-team campaign reproducers (backend {args.backend})\n\n")
        counts = fuzz_redteam.campaign(args.programs, args.first_seed, families, args.backend,
                                       args.budget, args.reproducers,
                                       out=lambda text: out.write(f"\n```\n{text}\n```\n"))
    for family in sorted({f for f, _ in counts}):
        row = {kind: n for (f, kind), n in counts.items() if f == family}
        print(f"{family:12s} " + "  ".join(f"{kind} {n}" for kind, n in sorted(row.items())))
    print(f"\nreproducers: {args.out}")
    return 1 if any(kind in (fuzz_redteam.WRONG, fuzz_redteam.CRASHED) for _, kind in counts) else 0


def main(argv=None):
    args = parse_args(argv)
    if args.backend == "numba":        # kernels built before the first call, each call checked
        os.environ["TRACEJIT_NUMBA_TIERING"] = "sync"
        os.environ["TRACEJIT_NUMBA_CROSSCHECK"] = "1"
    if args.redteam:                   # rolls half of its programs itself
        return run_redteam(args)
    if not args.no_roll:
        import tracejit.frontend.context as context
        context.UNROLL_OPS = 0
    families = args.families.split(",") if args.families else list(FAMILIES)
    end = time.perf_counter() + args.budget
    reports = []
    with np.errstate(all="ignore"):
        for k, family in enumerate(families):     # time a family leaves unused goes to the rest
            share = (end - time.perf_counter()) / (len(families) - k)
            reports.append(run_family(family, args, time.perf_counter() + share))
        print_table(reports, args.backend)
        write_reproducers(reports, args)
    return 0 if not any(r.failures for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
