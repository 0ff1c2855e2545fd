"""The campaign's JSON-RPC facade (`rpc_chain`) behaves as the contracts do under ape: custom
errors by name with their data, the pinned clock is the timestamp the contracts see, and a
snapshot restores state and clock. Runs in the anvil session (it starts its own anvil)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import LOG2_ARITY, STAKE
from eth_abi import decode
from fuzz_campaign import ape_artifacts, rpc_system
from rpc_chain import Reverted, RpcChain, RpcFault

from node.devnet.anvil import AnvilNode


@pytest.fixture(scope="module")
def rpc(chain, project) -> Iterator[tuple[RpcChain, object]]:  # noqa: ANN001
    if chain.provider.name == "test":
        pytest.skip("needs anvil: runs in the anvil session of the contracts suite")
    with AnvilNode.start() as anvil:
        c = RpcChain(anvil.rpc_url)
        yield c, rpc_system(c, ape_artifacts(project), LOG2_ARITY)


def test_custom_errors_are_raised_by_name_with_their_data(rpc) -> None:  # noqa: ANN001
    c, sys_ = rpc
    who = c.accounts[5]
    with pytest.raises(Reverted) as exc:
        sys_.stake.requestUnbond(1, sender=who)
    assert type(exc.value).__name__ == "InsufficientStake"
    assert decode(["address", "uint256", "uint256"], exc.value.data[4:]) == (
        who.address.lower(),
        0,
        1,
    )
    with pytest.raises(Reverted) as exc:
        sys_.stake.deposit(sender=who)
    assert type(exc.value).__name__ == "ZeroAmount"


def test_pinned_clock_is_what_the_contracts_see_and_snapshots_restore_it(rpc) -> None:  # noqa: ANN001
    c, sys_ = rpc
    stake, who = sys_.stake, c.accounts[5]
    snap = c.snapshot()
    t0 = c.pending_timestamp
    stake.deposit(value=STAKE, sender=who)
    c.pending_timestamp += 1000
    t = c.pending_timestamp
    stake.requestUnbond(STAKE, sender=who)
    amount, unlock_at = stake.unbonding(who)
    delay = int(stake.UNBONDING_DELAY())
    assert (amount, unlock_at) == (STAKE, t + delay)
    c.pending_timestamp = unlock_at - 1
    with pytest.raises(Reverted) as exc:
        stake.withdraw(sender=who)
    assert type(exc.value).__name__ == "StillUnbonding"
    assert decode(["address", "uint256", "uint256"], exc.value.data[4:])[1:] == (
        unlock_at,
        unlock_at - 1,
    )
    c.pending_timestamp = unlock_at
    receipt = stake.withdraw(sender=who)
    assert receipt.gas_used > 0 and stake.balance == 0 and stake.unbonding(who)[0] == 0
    c.restore(snap)
    assert c.pending_timestamp == t0 and stake.balance == 0 and stake.freeStake(who) == 0
    with pytest.raises(RpcFault, match="forward"):
        c.pending_timestamp = t0 - 1
