"""`make reliability`: the fault matrix of docs/reliability.md, written from what the fault
tests themselves recorded (tests/integration/test_fault_proxy.py with POC_RELIABILITY_OUT set):
for each fault kind, at each point of a job's life it was injected at, how many times, and what
became of the jobs and games it was injected into.

    python -m poc_lab.reliability RUN_DIR docs/reliability.md
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Where in a job's life a request is made, by JSON-RPC method or IPFS API path.
POINTS: dict[str, str] = {
    "eth_sendRawTransaction": "send a transaction",
    "eth_getTransactionReceipt": "wait for a receipt",
    "eth_getTransactionByHash": "wait for a receipt",
    "eth_getTransactionCount": "pick a nonce",
    "eth_estimateGas": "dry-run / estimate",
    "eth_call": "read contract state / dry-run",
    "eth_getLogs": "scan events",
    "eth_blockNumber": "read the head",
    "eth_getBlockByNumber": "read the head",
    "eth_chainId": "check the chain",
    "eth_gasPrice": "price gas",
    "eth_maxPriorityFeePerGas": "price gas",
    "eth_feeHistory": "price gas",
    "eth_getBalance": "read balances",
    "cat": "fetch a job or an output (IPFS)",
    "add": "publish an output (IPFS)",
    "pin/add": "pin (IPFS)",
    "block/stat": "check availability (IPFS)",
}


def point_of(method: str) -> str:
    return POINTS.get(method, f"other ({method})")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def render_crashes(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    out = [
        "## Crashes (kill -9 at random points)",
        "",
        "`test_daemons_killed_at_random_points`: once started, an honest daemon is SIGKILLed",
        "after a random number (1-6) of the lines it logs or a random 0.1-3 s, whichever is",
        "first, so kills land inside its bursts of work (claim, execute, submit, each move);",
        "it is restarted on the same data folder. Checked: the case's expected end, and no",
        "transaction of an honest daemon reverted (a re-sent claim, move or challenge would).",
        "",
        "| case | seed | kills | end |",
        "|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["case"], r["seed"])):
        out.append(f"| {r['case']} | {r['seed']} | {r['kills']} | {r['outcome']} |")
    out += [
        "",
        f"{sum(r['kills'] for r in rows)} kills in {len(rows)} runs, every run ended as expected.",
        "",
    ]
    return out


FAULT_KINDS = {
    "reorg": "reorg of d blocks (`anvil_reorg`) across the point; its transaction dropped",
    "reorg+reinclude": "reorg of d blocks; the point's transaction re-included in a new block",
    "rollback": "the last d blocks removed (`anvil_rollback`), the point's among them",
    "drop": "the point's transaction dropped from the mempool (`anvil_dropTransaction`)",
    "base-fee-10x": "the next block's base fee x10 (`anvil_setNextBlockBaseFeePerGas`)",
    "base-fee-100x": "the next block's base fee x100",
    "restart": "anvil killed after the point, restarted from the state dumped the round before",
}


def render_chain_faults(rows: list[dict[str, Any]]) -> list[str]:
    """The chain faults section (tests/integration/test_chain_faults.py's records)."""
    if not rows:
        return []
    out = [
        "## Chain faults on anvil (fault kind x lifecycle point x outcome)",
        "",
        "`tests/integration/test_chain_faults.py`: the provider and the watchtower daemons,",
        "ticked in turn in one process so that each fault lands exactly at its point (the",
        "provider's claim, its submission, the watchtower's challenge, the n-th move of the",
        "game). A reorg of depth d undoes the point's block and d-1 blocks around it, some of",
        "them already scanned by the daemons. Checked in every case: the expected end, no",
        "transaction of an honest daemon reverted, nothing left live in their records nor",
        "pending in their senders, and the fault bit (a lost transaction was sent again, the",
        "spiked block was paid for).",
        "",
    ]
    for kind in sorted({r["fault"] for r in rows}):
        out.append(f"- `{kind}`: {FAULT_KINDS.get(kind, kind)}")
    out += [
        "",
        "| fault | point | depth | side | end | txs lost | sent again | reorgs seen by "
        "scanners | ticks failed | attempts failed | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["fault"], r["point"], r["seed"])):
        depth = "" if r.get("depth") is None else str(r["depth"])
        out.append(
            f"| {r['fault']} | {r['point']} | {depth} | {r['side']} | {r['outcome']} | "
            f"{r['lost']} | {r['resent']} | {r['reorgs_seen']} | {r['tick_errors']} | "
            f"{r.get('record_failures', '')} | {r['seconds']} |"
        )
    out += [
        "",
        f"{len(rows)} chain faults, every case ended as expected "
        f"({sum(r['lost'] for r in rows)} transactions lost, "
        f"{sum(r['resent'] for r in rows)} sent again).",
        "",
    ]
    return out


LOAD_HEADING = "## Load: many jobs on one anvil"


def render_load(rows: list[dict[str, Any]]) -> list[str]:
    """The load section (tests/integration/test_load.py's records): throughput, RPC calls and
    gas per job, and each daemon's RSS over the run."""
    if not rows:
        return []
    out = [
        LOAD_HEADING,
        "",
        "`tests/integration/test_load.py`: 4 honest providers and 2 watchtowers as `poc`",
        "daemons, and a lying provider (poc_lab) that answers the one job in ten marked for it;",
        "the poster keeps at most 40 jobs open and cancels each lied-about job once its claim is",
        "rejected. Chain time runs 4x wall time. Checked: every liar slashed (claim rejected,",
        "every game won by a watchtower), every honest job finalized by an honest provider,",
        "nothing live or pending in the daemons' state, no honest transaction reverted except",
        "claims that lost a race to another provider's (counted below), RSS flat",
        "after warm-up. Jobs per minute are over wall time, from the first post to the last job",
        "done; RPC calls are every daemon's as web3 makes them (their metrics); those that reach",
        "the node leave out `eth_chainId`, answered from the provider's cache after its first",
        "call. Gas is every transaction's of the run (poster included).",
        "",
        "| jobs | lies | soak (s) | seconds | jobs/min | RPC calls/job (to the node) | gas/job "
        "| memory flat |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['jobs']} | {r['lies']} | {r['soak_s']:.0f} | {r['seconds']} | "
            f"{r['jobs_per_min']} | {r['rpc_per_job']} ({r.get('rpc_network_per_job', '?')}) | "
            f"{r['gas_per_job']:,} | "
            f"{'yes' if r['memory_flat'] else 'NO'} |"
        )
    for r in rows:
        out += [
            "",
            f"### {r['jobs']} jobs: where the RPC calls and the gas went, RSS over the run",
            "",
            "RPC calls by method (all daemons): "
            + ", ".join(f"`{m}` {n:,}" for m, n in r["rpc_top"].items()),
            "",
            "Gas by sender: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(r["gas_by_sender"].items()))
            + ". Claim races lost (a claim reverted: another provider's was mined first): "
            + f"{r.get('claim_races_lost', 0)}, {r.get('claim_race_gas', 0):,} gas.",
            "",
            "| daemon | samples | first MB | warm (2nd fifth, median) MB | peak MB | last MB |",
            "|---|---|---|---|---|---|",
        ]
        for name, samples in sorted(r["rss_mb"].items()):
            if not samples:
                continue
            values = [mb for _, mb in samples]
            fifth = len(values) // 5
            # the median of the second fifth: what test_load's flatness check compares with
            warm = statistics.median(values[fifth : 2 * fifth]) if fifth else values[0]
            out.append(
                f"| {name} | {len(values)} | {values[0]:.0f} | {warm:.0f} | {max(values):.0f} | "
                f"{values[-1]:.0f} |"
            )
    out.append("")
    return out


def render(
    rows: list[dict[str, Any]],
    command: str,
    crashes: list[dict[str, Any]] | None = None,
    chain: list[dict[str, Any]] | None = None,
    load_rows: list[dict[str, Any]] | None = None,
) -> str:
    runs = sorted({(r["case"], r["seed"], r["outcome"]) for r in rows})
    requests: dict[tuple[str, int, str], int] = {}
    for r in rows:
        requests[(r["case"], r["seed"], r["link"])] = r["requests"]
    faults = sorted({r["fault"] for r in rows})
    points = sorted({point_of(r["method"]) for r in rows})
    counts: dict[tuple[str, str], int] = defaultdict(int)
    outcomes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        key = (point_of(r["method"]), r["fault"])
        counts[key] += r["count"]
        outcomes[key].add(r["outcome"])
    cpu = _cpu()
    out = [
        "# Reliability: the daemons through faults",
        "",
        "Produced by the fault tests themselves (issue 13), not written by hand:",
        f"`{command}` ran `tests/integration/test_fault_proxy.py` with `POC_RELIABILITY_OUT` set;",
        "every fault the proxies injected was recorded with the request it hit, and this page is",
        "rendered from those records by `python -m poc_lab.reliability`.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "- set-up: real anvil and a real IPFS node (js-ipfs), `poc provider run` and",
        "  `poc watch run` as subprocesses; each daemon's JSON-RPC and IPFS API traffic goes",
        "  through its own loopback proxy (tests/integration/fault_proxy.py) that faults about",
        "  15 % of requests (never two in a row), with `rpc_timeout` 2 s and `storage_timeout` 5 s.",
        "- fault kinds: `delay` (0.8 s, answered), `timeout` (held past the client's timeout),",
        "  `http-500/502/503/429` (answered by the proxy, not forwarded), `reset-before` (the",
        "  request never arrives), `reset-after` (carried out upstream, the answer lost: e.g. a",
        "  transaction sent whose hash the daemon never hears), `truncate` (the answer cut",
        "  mid-body, then the connection reset).",
        "- checked in every run: the expected end (below), no transaction of an honest daemon",
        "  reverted (a duplicate claim, move or challenge would), every fault logged as a warning",
        "  that names its cause (no error records), at least 5 faults injected.",
        "",
        "## Runs",
        "",
        "| case | seed | end | requests (provider rpc / ipfs, tower rpc / ipfs) |",
        "|---|---|---|---|",
    ]
    for case, seed, outcome in runs:
        reqs = " / ".join(
            str(requests.get((case, seed, link), 0))
            for link in ("provider-rpc", "provider-ipfs", "tower-rpc", "tower-ipfs")
        )
        out.append(f"| {case} | {seed} | {outcome} | {reqs} |")
    out += [
        "",
        "## Fault matrix (faults injected: point of the job's life x fault kind)",
        "",
        "Every run above ended as expected, so each non-empty cell is a fault the daemons",
        "survived at that point; the outcomes of the runs it was injected into are listed below",
        "the table.",
        "",
        "| point | " + " | ".join(faults) + " | total |",
        "|---|" + "---|" * (len(faults) + 1),
    ]
    for point in points:
        cells = [counts.get((point, f), 0) for f in faults]
        out.append(
            f"| {point} | " + " | ".join(str(c) if c else "" for c in cells) + f" | {sum(cells)} |"
        )
    totals = [sum(counts.get((p, f), 0) for p in points) for f in faults]
    out.append("| **total** | " + " | ".join(str(t) for t in totals) + f" | {sum(totals)} |")
    out += ["", "Outcomes of the runs each fault kind was injected into:", ""]
    for f in faults:
        ends = sorted({o for (p, k), os_ in outcomes.items() if k == f for o in os_})
        out.append(f"- `{f}`: {', '.join(ends)}")
    out.append("")
    out += render_crashes(crashes or [])
    out += render_chain_faults(chain or [])
    out += render_load(load_rows or [])
    return "\n".join(out)


def _cpu() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.machine()
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in text.splitlines())
    )
    return f"{fields.get('Model name', platform.machine())}, {fields.get('CPU(s)', '?')} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--command", default="make reliability")
    ap.add_argument(
        "--load",
        dest="extra_load",
        type=Path,
        action="append",
        default=[],
        help="a load.jsonl of another run (e.g. `make fuzz`'s 200 jobs) to render too",
    )
    ap.add_argument(
        "--load-only",
        action="store_true",
        help="rewrite only OUT's load section from RUN_DIR/load.jsonl (and --load), keeping "
        "the fault sections of the page as they are (`make fuzz`'s soak, without rerunning "
        "the fault tests)",
    )
    args = ap.parse_args()
    load_rows = [args.run_dir / "load.jsonl", *args.extra_load]
    if args.load_only:
        rows = [row for path in load_rows if path.exists() for row in load(path)]
        if not rows or not args.out.exists():
            sys.exit(f"--load-only needs load records in {args.run_dir} and a page {args.out}")
        head = args.out.read_text().split(LOAD_HEADING)[0]
        args.out.write_text(head + "\n".join(render_load(rows)))
        print(f"wrote {args.out} (load section)")
        return
    source = args.run_dir / "fault_matrix.jsonl"
    if not source.exists():
        sys.exit(f"{source} not found: run the fault tests with POC_RELIABILITY_OUT={args.run_dir}")
    crashes, chain = args.run_dir / "crashes.jsonl", args.run_dir / "chain_faults.jsonl"
    args.out.write_text(
        render(
            load(source),
            args.command,
            load(crashes) if crashes.exists() else [],
            load(chain) if chain.exists() else [],
            [row for path in load_rows if path.exists() for row in load(path)],
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
