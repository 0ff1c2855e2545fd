"""Random sequences of replicated-job actions (`replica_machine.ReplicaMachine`, docs/protocol.md
6.8): solvency of both markets and the stake manager, forward-only states, honest seats never
rejected and paid when their job finalizes, nothing escrowed or locked once everything ended.
CI runs a few short sequences; `make fuzz` (POC_FUZZ=1, -m slow) the longer campaign."""

from __future__ import annotations

import os

import pytest
import replica_machine
from conftest import FUZZ, deploy_system
from replicas import deploy_replicas

# EVM computation only (see the `evm_only` marker): the embedded chain runs it, anvil's rerun does not.
pytestmark = pytest.mark.evm_only


def _run(project, accounts, chain, examples: int, steps: int) -> None:  # noqa: ANN001
    from ape.exceptions import ContractLogicError

    rep = deploy_replicas(project, deploy_system(project, accounts[0]))
    ctx = replica_machine.machine_context(chain, rep, accounts, (ContractLogicError,))
    replica_machine.run_sequences(ctx, examples=examples, steps=steps, derandomize=not FUZZ)


def test_replica_sequences_stay_solvent_and_end_clean(project, accounts, chain):  # noqa: ANN001
    if chain.provider.name != "test":
        pytest.skip("the replica machine drives ape's embedded chain")
    replica_machine.COUNTS.clear()
    _run(project, accounts, chain, examples=4, steps=8)
    # the sequences reached the end of rounds, not just refusals
    assert replica_machine.COUNTS.get("rounds", 0) > 0, replica_machine.COUNTS
    print("replica machine:", replica_machine.COUNTS)


@pytest.mark.slow
def test_replica_sequences_fuzz_campaign(project, accounts, chain):  # noqa: ANN001
    if chain.provider.name != "test":
        pytest.skip("the replica machine drives ape's embedded chain")
    n = int(os.environ.get("POC_FUZZ_REPLICA_SEQUENCES", "200")) if FUZZ else 5
    _run(project, accounts, chain, examples=n, steps=30)
    from fuzz_counts import record

    record("replica_stateful", {"sequences": n, **replica_machine.COUNTS})
