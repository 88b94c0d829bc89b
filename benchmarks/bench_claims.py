"""Do the course's claims hold for other seeds? Each notebook re-run under ten seeds, its claim lines counted.

    python benchmarks/bench_claims.py                          # notebooks 01-07 and 09, seeds 1-10 (long)
    python benchmarks/bench_claims.py --notebooks 04 06 --seeds 1 2 3
    python benchmarks/bench_claims.py --resume                 # go on from an interrupted run

Every course notebook prints its headline claims as lines ``claim: <statement> — holds (<evidence>)``
or ``— does not hold`` (``bdlearn.notebook.claims``), and reads its base seed from
``BDLEARN_NOTEBOOK_SEED``. The test suite runs each notebook once, with its own default seed, and fails
if a claim does not hold. A claim that holds only for that seed is luck, not a lesson, so this
benchmark runs each notebook top to bottom (nbclient, in a kernel of this environment) under other
seeds and reports, per claim, for how many seeds it held: the goal is every claim for 10 of 10 seeds,
at least 9. ``--jobs N`` runs N notebooks at once, each kernel with its share of the CPU's threads
(on 2 cores, 2 jobs of one thread each keep both busy without oversubscribing them).

Writes ``benchmarks/results/claims.json``: the machine, each run (notebook, seed, seconds, the CPU it
ran on, claim lines) and a summary per claim. With ``--resume`` the runs already in the report are kept.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from bdlearn.notebook.claims import parse_claim

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_REPORT = ROOT / "benchmarks" / "results" / "claims.json"


def claims_of(notebook: nbformat.NotebookNode) -> list[dict]:
    """The claim lines an executed notebook printed, as {statement, holds, evidence}."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            for line in text.splitlines():
                stated = parse_claim(line)
                if stated is not None:
                    found.append({"statement": stated.statement, "holds": stated.holds, "evidence": stated.evidence})
    return found


def run_notebook(path: Path, seed: int, threads: int) -> tuple[list[dict], float, str | None]:
    """Run ``path`` top to bottom with ``BDLEARN_NOTEBOOK_SEED=seed``: (claims, seconds, error or None).

    Meant for a worker process: the kernel inherits this process's environment, set here.
    """
    notebook = nbformat.read(path, as_version=4)
    os.environ["BDLEARN_NOTEBOOK_SEED"] = str(seed)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # torch in the kernel takes its thread count from this
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as failure:  # a failing cell still leaves the claims printed before it
        error = f"{type(failure).__name__}: {str(failure).strip().splitlines()[-1][:300]}"
    return claims_of(notebook), time.perf_counter() - started, error


def summarise(runs: list[dict]) -> dict:
    """Per notebook and claim: the seeds run, how many held, and the seeds where it did not.

    A claim missing from a run (its notebook failed before printing it) counts as not held.
    """
    statements: dict[str, list[str]] = {}
    for run in runs:
        known = statements.setdefault(run["notebook"], [])
        known += [claim["statement"] for claim in run["claims"] if claim["statement"] not in known]
    summary: dict[str, dict] = {}
    for run in runs:
        held = {claim["statement"]: claim["holds"] for claim in run["claims"]}
        claims = summary.setdefault(run["notebook"], {})
        for statement in statements[run["notebook"]]:
            entry = claims.setdefault(statement, {"seeds": 0, "held": 0, "failed_seeds": []})
            entry["seeds"] += 1
            entry["held"] += held.get(statement, False)
            if not held.get(statement, False):
                entry["failed_seeds"].append(run["seed"])
    return summary


def processor() -> str:
    """The CPU's model name and core count, e.g. ``AMD EPYC, 2 cores``."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def machine() -> str:
    import torch

    return f"{processor()}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", nargs="+", default=["01", "02", "03", "04", "05", "06", "07", "09"],
                        help="notebook numbers, names or .ipynb paths (default: 01-07 and 09, the toy-world course)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)),
                        help="values of BDLEARN_NOTEBOOK_SEED (default: 1-10; each notebook's own default is 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    args = parser.parse_args()

    paths = [Path(name) if name.endswith(".ipynb") and Path(name).is_file()
             else next(NOTEBOOKS.glob(f"{name}*.ipynb"), None)
             for name in args.notebooks]
    if None in paths:
        sys.exit(f"bench_claims: no notebook matches {args.notebooks[paths.index(None)]!r} in {NOTEBOOKS}")
    report = {"machine": machine(), "runs": []}
    if args.resume and args.out.exists():
        report["runs"] = [run for run in json.loads(args.out.read_text())["runs"] if not run["error"]]  # retry errors
    done = {(run["notebook"], run["seed"]) for run in report["runs"]}

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp(prefix="bench-claims-ipython-"))
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    todo = [(path, seed) for seed in args.seeds for path in paths if (path.name, seed) not in done]
    # fresh interpreters (spawn), not forks: a forked worker can inherit the parent's half-made Jupyter client
    # state and hang waiting for its kernel
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_notebook, path, seed, threads): (path, seed) for path, seed in todo}
        for future in as_completed(futures):
            path, seed = futures[future]
            claims, seconds, error = future.result()
            report["runs"].append({"notebook": path.name, "seed": seed, "seconds": round(seconds, 1),
                                   "threads": threads, "machine": processor(), "claims": claims,
                                   "error": error})
            report["runs"].sort(key=lambda run: (run["seed"], run["notebook"]))
            report["summary"] = summarise(report["runs"])
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
            held = sum(claim["holds"] for claim in claims)
            print(f"{path.name} seed {seed}: {held}/{len(claims)} claims hold, {seconds:.0f} s"
                  + (f", {error}" if error else ""), flush=True)

    for notebook, claims in summarise(report["runs"]).items():
        for statement, entry in claims.items():
            print(f"{notebook}: {entry['held']}/{entry['seeds']} seeds: {statement}")


if __name__ == "__main__":
    main()
