"""Random sequences of market actions (`market_machine.MarketMachine`), the attacks of issue 11
among them: solvency, forward-only states and the payout ledger (P1, P2) after every action,
nothing stuck once everything has ended.

On the embedded chain the machine drives ape's contract objects; on anvil (the contracts suite
run with `--network ethereum:local:foundry`) it drives its own anvil through `rpc_chain`. CI runs
a bounded number of sequences; `POC_FUZZ=1 ... -m slow` runs the long campaign on anvil
(POC_FUZZ_SEQUENCES, default 10,000, over POC_FUZZ_WORKERS processes, default the CPU count)."""

from __future__ import annotations

import os

import market_machine
import pytest
from conftest import FUZZ, deploy_system
from fuzz_campaign import ape_artifacts, campaign, run_on_anvil


def test_market_sequences_stay_solvent_and_end_clean(accounts, chain, project, deployer):  # noqa: ANN001
    if chain.provider.name == "test":
        from ape.exceptions import ContractLogicError
        from puppets import Attacker

        system = deploy_system(project, deployer)
        attacker = Attacker.deploy(project, accounts[9], 3)
        ctx = market_machine.machine_context(
            chain, system, accounts, (ContractLogicError,), attacker
        )
        market_machine.run_sequences(ctx, examples=3, steps=2, derandomize=not FUZZ)
    else:
        counts = run_on_anvil(ape_artifacts(project), sequences=20, derandomize=not FUZZ)
        assert counts["sequences"] >= 20 and counts["games"] > 0, counts


@pytest.mark.slow
def test_market_sequences_fuzz_campaign(project):  # noqa: ANN001
    n = int(os.environ.get("POC_FUZZ_SEQUENCES", "10000")) if FUZZ else 20
    workers = int(os.environ.get("POC_FUZZ_WORKERS", str(os.cpu_count() or 1)))
    counts = campaign(ape_artifacts(project), n, max(1, min(workers, n)))
    assert counts["sequences"] >= n, counts
    from fuzz_counts import record

    record("stateful", counts)
