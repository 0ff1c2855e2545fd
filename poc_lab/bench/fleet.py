"""Throughput of the provider daemon with its executions in process (`--executor local`) or on a
local Ray (`--executor ray`) with 1 and 2 workers (issue 13): N jobs posted at once on anvil,
the time from the provider's first tick to the last claim submitted. Each mode runs in its own
process (a Ray's worker count is fixed when it starts). Rewrites the `fleet` section of
docs/benchmarks.md.

    python -m poc_lab.bench.fleet [--jobs 12] [--rows 2048] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from poc_lab.bench.report import machine, write_section

ETHER = 10**18
WIDTHS = (2048, 2048, 2048, 2048, 32)
MODES = {"local": None, "ray, 1 worker": 1, "ray, 2 workers": 2}


def run_mode(workers: int | None, jobs: int, rows: int) -> dict[str, float]:
    """One mode: post `jobs` jobs, tick the provider until every claim is submitted."""
    from node.chain.contracts.job_market import ClaimState
    from node.compute.config import ComputeConfig
    from node.compute.fleet import RayFleet, execute_claim
    from node.roles.client import JobClient, JobTerms
    from node.roles.examples import random_mlp
    from node.roles.localnet import LocalScenario
    from node.roles.provider import Provider, ProviderPolicy

    terms = JobTerms(
        ETHER // 10, ETHER // 2, ETHER // 50, execute_within=3600, challenge_window=3600,
        clock=3600,
    )  # fmt: skip
    fleet = RayFleet("local", num_cpus=workers) if workers else None
    with (
        tempfile.TemporaryDirectory(prefix="poc-bench-fleet-") as tmp,
        LocalScenario(Path(tmp)) as sc,
    ):
        specs = [random_mlp(WIDTHS, rows=rows, seed=i) for i in range(jobs)]
        t = time.perf_counter()
        execute_claim(specs[0][0], specs[0][0].input_values(specs[0][1]), ComputeConfig())
        one = time.perf_counter() - t
        if fleet is not None:  # start the workers (a daemon's live for hours): not timed
            warm = [
                fleet.start_claim(sp, sp.input_values(d), ComputeConfig())
                for sp, d in specs[:workers]
            ]
            for ref in warm:
                fleet.result(ref)
        poster = JobClient(sc.ctx(1, "poster"))
        ids = [poster.post(spec, data, terms) for spec, data in specs]
        # this CPU's measured rate (about 2.4e10 int8 MACs/s in process), not the slow-CPU
        # default, else the safety rules refuse jobs this size for the challenge window
        policy = ProviderPolicy(
            executor="ray" if workers else "local", block_time=1.0, gas_price=10**9,
            macs_per_second=1e10,
        )  # fmt: skip
        provider = Provider(sc.ctx(2, "provider"), policy)
        provider.stake(jobs * ETHER)
        market = provider.ctx.deployment.market
        t0 = time.perf_counter()
        ticks = 0

        def submitted(job_id: int) -> bool:
            claim_id = market.job(job_id).current_claim
            return bool(claim_id) and market.claim(claim_id).state == ClaimState.SUBMITTED

        while not all(submitted(i) for i in ids):
            provider.tick()
            ticks += 1
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("the provider did not submit every job in 10 minutes")
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    if fleet is not None:
        fleet.shutdown()
    return {"wall": wall, "ticks": ticks, "one_execution": one}


def report(results: dict[str, dict[str, float]], jobs: int, rows: int, cmd: str) -> str:
    macs = rows * sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True))
    base = results["local"]["wall"]
    lines = [
        "## Provider fleets: `--executor local` and `--executor ray` (issue 13)",
        "",
        f"Machine: {machine()}. Command: `{cmd}`; "
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"{jobs} jobs posted at once on a local anvil, each an int8 MLP "
        f"{'-'.join(map(str, WIDTHS))} on {rows} rows ({macs / 1e6:.0f}M MACs, "
        f"{results['local']['one_execution']:.2f} s for one claim's execution in process: the "
        "plain integer program plus S_N). Time from the provider daemon's first tick to the last "
        "claim submitted: claims, executions, output uploads and submissions, one process "
        "holding the key. A Ray worker runs one execution at a time on one CPU thread (its "
        "processes started before the clock starts, as in a long-running daemon); in process, "
        "torch uses every core for one execution. This machine's two CPUs also run anvil and "
        "the daemon, whose chain work per job (fetch and check the package, claim, upload, "
        "submit, one tick to notice a finished execution) is done one job at a time: a fleet "
        "adds throughput where executions outweigh it (long GPU jobs) and workers are other "
        "machines.",
        "",
        "| executor | wall (s) | jobs per minute | vs local | daemon ticks |",
        "|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        lines.append(
            f"| {mode} | {r['wall']:.1f} | {jobs * 60 / r['wall']:.1f} | "
            f"{base / r['wall']:.2f}x | {int(r['ticks'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--mode", choices=list(MODES), help="run one mode, print its JSON")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.mode:
        print(json.dumps(run_mode(MODES[args.mode], args.jobs, args.rows)))
        return
    results = {}
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, "-m", "poc_lab.bench.fleet", "--mode", mode,
             "--jobs", str(args.jobs), "--rows", str(args.rows)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(mode, results[mode], flush=True)
    cmd = f"python -m poc_lab.bench.fleet --jobs {args.jobs} --rows {args.rows}"
    body = report(results, args.jobs, args.rows, cmd)
    print(body)
    if not args.no_write:
        print(f"wrote {write_section('fleet', body)}")


if __name__ == "__main__":
    main()
