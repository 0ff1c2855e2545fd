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


def render(
    rows: list[dict[str, Any]], command: str, crashes: list[dict[str, Any]] | None = None
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
    args = ap.parse_args()
    source = args.run_dir / "fault_matrix.jsonl"
    if not source.exists():
        sys.exit(f"{source} not found: run the fault tests with POC_RELIABILITY_OUT={args.run_dir}")
    crashes = args.run_dir / "crashes.jsonl"
    args.out.write_text(
        render(load(source), args.command, load(crashes) if crashes.exists() else [])
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
