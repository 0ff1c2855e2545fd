"""The long stateful campaign: `MarketMachine` sequences on anvil, several workers at once.

Each worker is a process with its own anvil (started and stopped by `node.devnet`), the system
deployed from the artifacts ape compiled, and its share of the sequences; the parent adds up
the counts. Run by `make fuzz` through `test_stateful.py`, or directly:

    python tests/contracts/fuzz_campaign.py worker ARTIFACTS.json SEQUENCES OUT.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: the suite's helper modules live here
    sys.path.insert(0, str(HERE))

CONTRACTS = ("StakeManager", "TensorStep", "JobMarket", "DisputeGame")
ATTACKER = "Puppeteer"  # contracts/test: the attacker's accounts, one transaction for many calls


def ape_artifacts(project: Any) -> dict[str, dict[str, Any]]:
    """ABI and creation bytecode of the four contracts (and the test attacker) as ape compiled them."""
    out = {}
    for name in (*CONTRACTS, ATTACKER):
        ct = getattr(project, name).contract_type
        out[name] = {
            "contractName": name,
            "abi": [e.model_dump(mode="json", by_alias=True) for e in ct.abi],
            "bytecode": ct.deployment_bytecode.bytecode,
        }
    return out


def rpc_system(chain: Any, artifacts: dict[str, dict[str, Any]], log2_arity: int) -> Any:
    """Deploys and wires the system as `conftest.deploy_system` does, over `rpc_chain`."""
    from conftest import ETHER_ASSET, MIN_BOND, MIN_CLOCK, System

    deployer = chain.accounts[0]
    stake = chain.deploy(artifacts["StakeManager"], [ETHER_ASSET], deployer)
    step = chain.deploy(artifacts["TensorStep"], [], deployer)
    market = chain.deploy(artifacts["JobMarket"], [stake, MIN_CLOCK, MIN_BOND], deployer)
    game = chain.deploy(artifacts["DisputeGame"], [market, step, log2_arity], deployer)
    market.setGame(game, sender=deployer)
    stake.setMarket(market, sender=deployer)
    return System(stake, step, market, game, deployer)


def rpc_attacker(chain: Any, artifacts: dict[str, dict[str, Any]], puppets: int = 3) -> Any:
    """The F1/F4 attacker (`puppets.Attacker`) deployed over `rpc_chain`, owned by account 9."""
    from puppets import Attacker, PuppetRef

    owner = chain.accounts[9]
    pp = chain.deploy(artifacts[ATTACKER], [puppets], owner)
    return Attacker(pp, owner, [PuppetRef(i, str(pp.puppets(i))) for i in range(puppets)])


def run_on_anvil(
    artifacts: dict[str, dict[str, Any]], sequences: int, derandomize: bool, shrink: bool = True
) -> dict[str, int]:
    """Starts an anvil, runs `sequences` sequences on it, stops it; returns the counts."""
    import market_machine
    from conftest import LOG2_ARITY
    from rpc_chain import Reverted, RpcChain

    from node.devnet.anvil import AnvilNode

    market_machine.COUNTS.clear()
    with AnvilNode.start() as anvil:
        chain = RpcChain(anvil.rpc_url)
        system = rpc_system(chain, artifacts, LOG2_ARITY)
        attacker = rpc_attacker(chain, artifacts)
        ctx = market_machine.machine_context(chain, system, chain.accounts, (Reverted,), attacker)
        t0 = time.monotonic()
        market_machine.run_sequences(ctx, sequences, derandomize=derandomize, shrink=shrink)
        market_machine.COUNTS["seconds (worker)"] = round(time.monotonic() - t0)
        market_machine.COUNTS["json-rpc requests"] = chain.calls
    return dict(market_machine.COUNTS)


def campaign(artifacts: dict[str, dict[str, Any]], sequences: int, workers: int) -> dict[str, int]:
    """`sequences` in all over `workers` processes; each worker's hypothesis seed is random."""
    with tempfile.TemporaryDirectory(prefix="poc-fuzz-") as tmp:
        art = Path(tmp) / "artifacts.json"
        art.write_text(json.dumps(artifacts))
        shares = [sequences // workers + (i < sequences % workers) for i in range(workers)]
        procs = []
        for i, n in enumerate(shares):
            out = Path(tmp) / f"counts-{i}.json"
            cmd = [sys.executable, __file__, "worker", str(art), str(n), str(out)]
            procs.append((subprocess.Popen(cmd, cwd=HERE.parents[1]), out))
        failed = [p.args for p, _ in procs if p.wait() != 0]
        if failed:
            raise AssertionError(f"fuzz workers failed (their output is above): {failed}")
        total: dict[str, int] = {}
        for _, out in procs:
            for k, v in json.loads(out.read_text()).items():
                if k == "seconds (worker)":  # wall time: the slowest worker's, not a sum
                    k = "seconds (slowest worker)"
                    v = max(total.get(k, 0), v)
                else:
                    v += total.get(k, 0)
                total[k] = v
        total["workers"] = workers
        return total


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "worker":
        print(__doc__, file=sys.stderr)
        return 2
    artifacts = json.loads(Path(argv[1]).read_text())
    counts = run_on_anvil(artifacts, int(argv[2]), derandomize=False, shrink=False)
    Path(argv[3]).write_text(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
