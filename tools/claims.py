"""The claims ledger over seeds: how far each notebook claim is from failing.

Run from the repository root (or ``make claims``)::

    python -m tools.claims                         # every notebook, seeds 0-9, 2 at a time
    python -m tools.claims --seeds 0-19 --jobs 8   # more seeds, more kernels at once
    python -m tools.claims notebooks/05_weight_initialization.ipynb --seeds 0-4
    python -m tools.claims --capability default    # ATEN_CPU_CAPABILITY=default: another "machine"
    python -m tools.claims --report-only           # rebuild the report from the logs

Each (notebook, seed) runs top to bottom in a fresh ``python3`` kernel with
``COURSE_SEED`` set; every ``claim(...)`` appends a JSON line to the ledger
(``utils.claims``: ``COURSE_CLAIMS_LOG``). Cells run on after a failing claim, so
one failure does not hide the claims after it. The report, ``build/claims.md``,
gives per claim the min / median / max over seeds and its **margin**: the
distance from the worst seed to the bound,

* as a **factor** when the quantity spans orders of magnitude (values and bound
  positive, and the values, or value and bound, differ by 10× or more):
  bound / worst for ``<``, worst / bound for ``>``;
* as a **fraction** otherwise: (bound − worst) / |bound| for one-sided claims,
  and the distance to the nearer end over the window's width for ``between``.

A margin is **thin** under a factor of 1.5, a fraction of 0.2, or a tenth of a
``between`` window; failing and thin claims are listed first. Categorical
claims (``is``, ``in``, ``includes``, ``excludes``) and exact counts (``==``)
have no margin: only their failures are counted. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "build"
LOG_DIR = BUILD_DIR / "claims"
REPORT_PATH = BUILD_DIR / "claims.md"
CELL_TIMEOUT_S = 300

THIN_FACTOR = 1.5
THIN_FRACTION = 0.2
THIN_WINDOW_FRACTION = 0.1
CATEGORICAL_OPS = ("is", "in", "includes", "excludes")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# --- Running notebooks ---------------------------------------------------------------------

def parse_seeds(text: str) -> list[int]:
    """'0-9' → [0, ..., 9]; '0,3,5-6' → [0, 3, 5, 6]."""
    seeds = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise SystemExit(f"--seeds: expected e.g. '0-9' or '0,3,5-6', got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise SystemExit(f"--seeds: expected whole numbers >= 0, got {text!r}")
    return sorted(set(seeds))


def resolve_notebooks(names: list[str]) -> list[Path]:
    """The notebooks named on the command line, or every notebooks/NN_*.ipynb."""
    if not names:
        return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    paths = [Path(name).resolve() for name in names]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)}")
    return paths


def log_path(log_dir: Path, notebook: Path, seed: int, capability: str) -> Path:
    suffix = "" if capability == "auto" else f"-cpu_{capability}"
    return log_dir / f"{notebook.stem}-seed{seed}{suffix}.jsonl"


def run_one(notebook: Path, seed: int, capability: str, log_dir: Path) -> dict:
    """Run one notebook with one seed in a fresh kernel (a subprocess); return how it went."""
    log = log_path(log_dir, notebook, seed, capability)
    log.unlink(missing_ok=True)
    environment = dict(os.environ, COURSE_SEED=str(seed), COURSE_NOTEBOOK=notebook.stem,
                       COURSE_CLAIMS_LOG=str(log), PYTHONHASHSEED="0")
    environment.update({name: "1" for name in THREAD_VARIABLES})
    if capability != "auto":
        environment["ATEN_CPU_CAPABILITY"] = capability
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tools.claims", "--execute", str(notebook)],
                            cwd=REPO_ROOT, env=environment, capture_output=True, text=True)
    return {"notebook": notebook.stem, "seed": seed, "capability": capability,
            "seconds": round(time.perf_counter() - start, 1),
            "demonstrations": [line[5:] for line in result.stdout.splitlines()
                               if line.startswith("DEMO ")],
            "errors": [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
            + ([f"ERROR runner exit {result.returncode}: {result.stderr.strip()[-300:]}"]
               if result.returncode else [])}


def execute(notebook: Path) -> int:
    """Run the notebook in this process's environment; print one ERROR line per failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            allow_errors=True, store_widget_state=False,
                            resources={"metadata": {"path": str(notebook.parent)}})
    # nbclient imitates a front end for Output widgets by sending messages back to the
    # kernel; under CPU load this stalled 01's explorer cell for minutes (5 of 6 parallel
    # runs). Claims never depend on a front end, so run without that imitation.
    client.comm_open_handlers = {}
    client.execute()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        errors = [output for output in outputs if output.get("output_type") == "error"]
        expected = "raises-exception" in cell.metadata.get("tags", [])
        if expected or not errors:
            # A failing claim whose error was expected or caught (``try: claim(...) except``)
            # is a demonstration of a failure, not a claim of the course.
            for output in outputs:
                for line in str(output.get("text", "")).splitlines():
                    if line.startswith("✘ ") and " = " in line:
                        print(f"DEMO {line[2:].split(' = ')[0]}")
        if not expected:
            for output in errors:
                print(f"ERROR cell {index}: {output.get('ename')}: "
                      f"{str(output.get('evalue'))[:300]}")
    return 0


# --- The report ----------------------------------------------------------------------------

def read_ledger(log_dir: Path) -> list[dict]:
    entries = []
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entries.append(json.loads(line))
    return entries


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def margin(values: list[float], op: str, bound) -> tuple[str, float | None, bool]:
    """(kind, size, thin) of the distance from the worst value to the bound.

    kind is 'factor', 'fraction', 'window' (fraction of a between-window) or '' (no margin).
    A failing claim has size ≤ 1 (factor) or ≤ 0 (fractions).
    """
    finite = [v for v in values if _is_number(v) and math.isfinite(v)]
    if op in CATEGORICAL_OPS or op == "==" or len(finite) < len(values) or not finite:
        return "", None, False
    low_v, high_v = min(finite), max(finite)

    def spans_decades(bound_value):
        positive = low_v > 0 and bound_value > 0
        return positive and (high_v / low_v >= 10 or not 0.1 < bound_value / low_v < 10
                             or not 0.1 < bound_value / high_v < 10)

    if op == "between":
        low, high = bound
        if low > 0 and low_v > 0 and high / low >= 10:
            size = min(low_v / low, high / high_v)
            return "factor", size, size < THIN_FACTOR
        size = min(low_v - low, high - high_v) / (high - low)
        return "window", size, size < THIN_WINDOW_FRACTION
    worst = high_v if op in ("<", "<=") else low_v
    if spans_decades(bound) or (worst > 0 and bound > 0 and spans_decades(worst)):
        size = bound / worst if op in ("<", "<=") else worst / bound
        return "factor", size, size < THIN_FACTOR
    scale = abs(bound) if bound else max(abs(high_v), abs(low_v), 1e-300)
    size = (bound - worst) / scale if op in ("<", "<=") else (worst - bound) / scale
    return "fraction", size, size < THIN_FRACTION


def _fmt(value) -> str:
    if _is_number(value):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.3g}"
        return f"{value:.2e}"
    return json.dumps(value, ensure_ascii=False)


def _fmt_bound(op, bound) -> str:
    if op == "between":
        return f"in [{_fmt(bound[0])}, {_fmt(bound[1])}]"
    return f"{op} {_fmt(bound)}"


def summarise(entries: list[dict], runs: list[dict] = ()) -> list[dict]:
    """One row per (notebook, statement, op, bound): spread over seeds, failures, margin.

    Claims that fail on purpose in a ``raises-exception`` cell (demonstrations) are left out.
    """
    demonstrations = {(run["notebook"], statement) for run in runs
                      for statement in run.get("demonstrations", [])}
    groups = defaultdict(list)
    for entry in entries:
        if (entry["notebook"], entry["statement"]) in demonstrations:
            continue
        key = (entry["notebook"], entry["statement"], entry["op"], json.dumps(entry["bound"]))
        groups[key].append(entry)
    rows = []
    for (notebook, statement, op, bound_text), group in groups.items():
        bound = json.loads(bound_text)
        values = [e["value"] for e in group]
        failures = sorted({f"{e['seed']}" + ("" if e.get("cpu_capability", "auto") == "auto"
                                             else f"/{e['cpu_capability']}")
                           for e in group if not e["holds"]})
        kind, size, thin = margin(values, op, bound)
        numbers = [v for v in values if _is_number(v)]
        rows.append({
            "notebook": notebook, "statement": statement, "op": op, "bound": bound,
            "runs": len(group), "failures": failures, "kind": kind, "margin": size, "thin": thin,
            "min": min(numbers) if len(numbers) == len(values) else None,
            "median": statistics.median(numbers) if len(numbers) == len(values) else None,
            "max": max(numbers) if len(numbers) == len(values) else None,
            "values": sorted({json.dumps(v) for v in values}) if len(numbers) < len(values)
            else None,
        })
    return rows


def _row_order(row):
    severity = 0 if row["failures"] else 1 if row["thin"] else 2
    closeness = row["margin"] if row["margin"] is not None else math.inf
    if row["kind"] == "factor" and row["margin"] is not None:
        closeness = math.log(max(row["margin"], 1e-300)) / math.log(THIN_FACTOR) * THIN_FRACTION
    return (severity, closeness, row["notebook"], row["statement"])


def spread_units(row) -> str:
    """The worst run's distance to the bound in units of the spread (max − min) over runs."""
    if row["kind"] in ("", None) or row["min"] is None:
        return "—"
    low, high, op, bound = row["min"], row["max"], row["op"], row["bound"]
    if op == "between":
        distance = min(low - bound[0], bound[1] - high)
    elif op in ("<", "<="):
        distance = bound - high
    else:
        distance = low - bound
    if high - low <= 1e-9 * max(abs(high), abs(low), 1e-300):  # rounding only
        return "same every run" if distance > 0 else f"{distance:.3g}"
    return f"{distance / (high - low):.1f}"


def margin_text(row) -> str:
    if row["kind"] == "factor":
        return f"×{row['margin']:.3g}"
    if row["kind"] == "fraction":
        return f"{100 * row['margin']:.0f} %"
    if row["kind"] == "window":
        return f"{100 * row['margin']:.0f} % of window"
    return "—"


def render(rows: list[dict], runs: list[dict], seeds_text: str) -> str:
    rows = sorted(rows, key=_row_order)
    failing = [r for r in rows if r["failures"]]
    thin = [r for r in rows if r["thin"] and not r["failures"]]
    with_margin = [r for r in rows if r["kind"]]
    run_count = max((r["runs"] for r in rows), default=0)
    problems = [run for run in runs if run["errors"]]
    lines = ["# Claims over seeds", "",
             *([f"**{len(problems)} of {len(runs)} runs stopped with an error in a cell** "
                "(see Runs with errors): their claims after that cell were not checked.", ""]
               if problems else []),
             f"{len(rows)} claims in {len({r['notebook'] for r in rows})} notebooks, "
             f"up to {run_count} runs of each notebook in the ledger (this call: "
             f"{len(runs)} runs, seeds {seeds_text}); "
             f"{len(failing)} failing, {len(thin)} with a thin margin "
             f"(factor < {THIN_FACTOR}, fraction < {THIN_FRACTION:.0%}, or < "
             f"{THIN_WINDOW_FRACTION:.0%} of a between-window); "
             f"{len(rows) - len(with_margin)} categorical or exact.", ""]
    thinnest = sorted(with_margin, key=_row_order)[:5]
    if thinnest:
        lines += ["Thinnest margins: " + "; ".join(
            f"{r['notebook'][:2]} “{r['statement']}” {margin_text(r)}" for r in thinnest), ""]
    if problems:
        lines += ["## Runs with errors", ""]
        for run in problems:
            lines += [f"- {run['notebook']} seed {run['seed']} ({run['capability']}): "
                      + " | ".join(run["errors"])[:600]]
        lines.append("")
    lines += ["## Every claim, failing and thin first", "",
              "The margin column: how far the worst run is from the bound (a factor, or a "
              "fraction); the spreads column: that distance in units of the spread over runs "
              "(max − min), a second view for bounded quantities such as accuracies.", "",
              "| notebook | claim | bound | runs | min | median | max | margin | spreads "
              "| fails (seeds) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        spread = ([_fmt(r["min"]), _fmt(r["median"]), _fmt(r["max"])] if r["values"] is None
                  else ["", ", ".join(r["values"])[:80], ""])
        mark = "**" if r["failures"] or r["thin"] else ""
        lines.append(f"| {r['notebook'][:2]} | {mark}{r['statement']}{mark} | "
                     f"{_fmt_bound(r['op'], r['bound'])} | {r['runs']} | " + " | ".join(spread)
                     + f" | {margin_text(r)} | {spread_units(r)} | "
                     + f"{', '.join(r['failures']) or '—'} |")
    if runs:
        lines += ["", "## Run times (s)", "", "| notebook | runs | min | median | max |",
                  "|---|---|---|---|---|"]
        by_notebook = defaultdict(list)
        for run in runs:
            by_notebook[run["notebook"]].append(run["seconds"])
        for name, seconds in sorted(by_notebook.items()):
            lines.append(f"| {name} | {len(seconds)} | {min(seconds)} | "
                         f"{statistics.median(seconds):.1f} | {max(seconds)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5-6 (default 0-9)")
    parser.add_argument("--jobs", type=int, default=2, help="kernels at once (default 2)")
    parser.add_argument("--capability", default="auto",
                        help="ATEN_CPU_CAPABILITY for the runs (e.g. default, avx2); 'auto' "
                             "leaves torch's choice")
    parser.add_argument("--log-dir", type=Path, default=LOG_DIR)
    parser.add_argument("--report", type=Path, default=REPORT_PATH)
    parser.add_argument("--report-only", action="store_true",
                        help="only rebuild the report from the logs in --log-dir")
    parser.add_argument("--execute", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute:
        return execute(Path(args.execute))
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be at least 1, got {args.jobs}")
    args.log_dir = args.log_dir.resolve()  # the kernels run in notebooks/: a relative path breaks
    args.report = args.report.resolve()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    if not args.report_only:
        notebooks, seeds = resolve_notebooks(args.notebooks), parse_seeds(args.seeds)
        tasks = [(nb, seed) for nb in notebooks for seed in seeds]
        print(f"{len(tasks)} runs ({len(notebooks)} notebooks × {len(seeds)} seeds), "
              f"{args.jobs} at a time", flush=True)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_one, nb, seed, args.capability, args.log_dir)
                       for nb, seed in tasks]
            for future in futures:
                run = future.result()
                runs.append(run)
                status = "errors: " + " | ".join(run["errors"])[:300] if run["errors"] else "ok"
                print(f"{run['notebook']} seed {run['seed']}: {run['seconds']} s, {status}",
                      flush=True)
        (args.log_dir / "runs.json").write_text(json.dumps(runs, indent=1))
    elif (args.log_dir / "runs.json").is_file():
        runs = json.loads((args.log_dir / "runs.json").read_text())
    rows = summarise(read_ledger(args.log_dir), runs)
    report = render(rows, runs, "as logged" if args.report_only else args.seeds)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report, encoding="utf-8")
    print("\n".join(report.splitlines()[:5]))
    print(f"report: {args.report}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
