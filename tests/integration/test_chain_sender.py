"""The transaction sender against anvil: dry runs decode custom errors, nonces, resumption,
mined failures, unreachable endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chain_helpers import rpc
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from node.chain.errors import RpcUnreachable, TransactionFailed, TransactionReverted
from node.chain.revert import RevertDecoder
from node.chain.rpc import RetryPolicy, connect
from node.chain.sender import TxRequest, TxSender
from node.devnet.ports import free_port
from node.state import StateStore

pytestmark = pytest.mark.integration


@pytest.fixture
def sender(w3: Web3, account: LocalAccount, emitter_artifact: dict[str, Any]) -> TxSender:
    return TxSender(w3, account, RevertDecoder([emitter_artifact["abi"]]))


@pytest.fixture
def manual_mining(w3: Web3) -> Iterator[None]:
    rpc(w3, "evm_setAutomine", False)
    try:
        yield
    finally:
        rpc(w3, "evm_setAutomine", True)


def test_a_good_call_is_mined(sender: TxSender, emitter: Contract) -> None:
    receipt = sender.transact(emitter.functions.ping(11, b"\x00" * 32, "hi"))
    assert receipt["status"] == 1
    assert emitter.functions.count().call() == 1


def test_dry_run_decodes_the_custom_error_and_sends_nothing(
    sender: TxSender, emitter: Contract, w3: Web3, account: LocalAccount
) -> None:
    nonce = w3.eth.get_transaction_count(account.address)
    with pytest.raises(TransactionReverted) as info:
        sender.transact(emitter.functions.ping(3, b"\x00" * 32, "low"))
    assert info.value.error_name == "TooSmall"
    assert info.value.error_args == {"given": 3, "minimum": 10}
    assert info.value.tx_hash is None
    assert "TooSmall(given=3, minimum=10)" in str(info.value)
    assert w3.eth.get_transaction_count(account.address) == nonce


@pytest.mark.parametrize(
    ("call", "name", "args"),
    [
        (lambda c: c.functions.pair(7, b"\x02" * 32), "BadPair", {"pair": (7, b"\x02" * 32)}),
        (lambda c: c.functions.fail("why not"), "Error", {"reason": "why not"}),
        (lambda c: c.functions.divide(1, 0), "Panic", {"code": 0x12}),
    ],
)
def test_struct_errors_reason_strings_and_panics_are_decoded(
    sender: TxSender, emitter: Contract, call: Any, name: str, args: dict[str, Any]
) -> None:
    with pytest.raises(TransactionReverted) as info:
        sender.dry_run(TxRequest.call(call(emitter)))
    assert (info.value.error_name, info.value.error_args) == (name, args)


def test_back_to_back_submits_take_consecutive_nonces_and_a_mined_failure_is_decoded(
    sender: TxSender, emitter: Contract, w3: Web3, manual_mining: None
) -> None:
    first = sender.submit(TxRequest.call(emitter.functions.once(), gas=100_000))
    second = sender.submit(TxRequest.call(emitter.functions.once(), gas=100_000))
    assert second.nonce == first.nonce + 1
    rpc(w3, "evm_mine")
    assert sender.wait(first)["status"] == 1
    with pytest.raises(TransactionFailed) as info:
        sender.wait(second)
    assert info.value.error_name == "AlreadyDone"
    assert info.value.tx_hash == second.tx_hash


def test_two_senders_of_one_account_do_not_collide(
    w3: Web3, account: LocalAccount, emitter: Contract
) -> None:
    a, b = TxSender(w3, account), TxSender(w3, account)
    for sender in (a, b, a, b):
        sender.transact(emitter.functions.ping(12, b"\x00" * 32, ""))
    assert emitter.functions.count().call() == 4


def test_a_restarted_sender_resumes_instead_of_sending_twice(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path, manual_mining: None
) -> None:
    state = StateStore(tmp_path / "state.db")
    request = TxRequest.call(emitter.functions.ping(20, b"\x00" * 32, ""), key="ping:20")
    sent = TxSender(w3, account, state=state).submit(request)
    # The daemon "restarts" before the receipt: a new sender, the same state file.
    again = TxSender(w3, account, state=StateStore(tmp_path / "state.db")).submit(request)
    assert again.tx_hash == sent.tx_hash
    rpc(w3, "evm_mine")
    TxSender(w3, account, state=state).wait(again)
    assert emitter.functions.count().call() == 1
    assert _recorded_status(state, "ping:20") == "mined"


def test_unreachable_rpc_is_a_named_error_quickly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RpcUnreachable, match=url):
        connect(url, timeout=1, policy=RetryPolicy(attempts=2, base_delay=0.05))


def test_sender_on_a_dead_endpoint_fails_with_rpc_unreachable(account: LocalAccount) -> None:
    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}"))
    sender = TxSender(dead, account, retry=RetryPolicy(attempts=2, base_delay=0.05))
    with pytest.raises(RpcUnreachable):
        sender.send(TxRequest(to=account.address, data=b""))


def test_an_intent_whose_tx_failed_can_be_sent_again(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path, manual_mining: None
) -> None:
    state = StateStore(tmp_path / "state.db")
    sender = TxSender(w3, account, RevertDecoder([emitter.abi]), state=state)
    blocker = sender.submit(TxRequest.call(emitter.functions.once(), gas=100_000))
    request = TxRequest.call(emitter.functions.once(), key="once", gas=100_000)
    doomed = sender.submit(request)
    rpc(w3, "evm_mine")
    sender.wait(blocker)
    with pytest.raises(TransactionFailed):
        sender.wait(doomed)
    # The next attempt is a fresh send, and its dry run now reports why it cannot succeed.
    with pytest.raises(TransactionReverted) as info:
        sender.submit(request)
    assert info.value.error_name == "AlreadyDone" and info.value.tx_hash is None


def _sent_and_forgotten(
    w3: Web3, account: LocalAccount, state: StateStore, call: Any, key: str
) -> Any:
    """`call` submitted under `key` with its intent recorded in `state`, then lost by the node
    (a node restart, an eviction) before it was mined."""
    sent = TxSender(w3, account, state=state).submit(TxRequest.call(call, key=key))
    rpc(w3, "anvil_dropTransaction", sent.tx_hash)
    return sent


def _recorded_status(state: StateStore, key: str) -> str | None:
    recorded = state.tx(key)
    return None if recorded is None else recorded.status


def test_recovery_rebroadcasts_what_the_node_forgot_and_settles_it(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path, manual_mining: None
) -> None:
    state = StateStore(tmp_path / "state.db")
    ping = emitter.functions.ping(30, b"\x00" * 32, "")
    sent = _sent_and_forgotten(w3, account, state, ping, "ping:30")
    restarted = TxSender(w3, account, state=StateStore(tmp_path / "state.db"))
    [pending] = restarted.recover_pending()
    assert pending.tx_hash == sent.tx_hash and pending.request.key == "ping:30"
    rpc(w3, "evm_mine")
    restarted.wait(pending)
    assert emitter.functions.count().call() == 1
    assert restarted.recover_pending() == []
    assert _recorded_status(state, "ping:30") == "mined"


def test_recovery_marks_an_intent_dropped_when_its_nonce_was_reused(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path, manual_mining: None
) -> None:
    state = StateStore(tmp_path / "state.db")
    _sent_and_forgotten(w3, account, state, emitter.functions.ping(31, b"\x00" * 32, ""), "ping:31")
    TxSender(w3, account).submit(TxRequest.call(emitter.functions.once()))  # takes the nonce
    rpc(w3, "evm_mine")
    assert TxSender(w3, account, state=state).recover_pending() == []
    assert _recorded_status(state, "ping:31") == "dropped"


def test_a_transaction_without_receipt_is_repriced_and_the_mined_version_recorded(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path, manual_mining: None
) -> None:
    import threading

    state = StateStore(tmp_path / "state.db")
    sender = TxSender(w3, account, state=state, bump_after=0.3)
    sent = sender.submit(TxRequest.call(emitter.functions.ping(40, b"\x00" * 32, ""), key="p40"))
    miner = threading.Timer(1.5, lambda: rpc(w3, "evm_mine"))
    miner.start()
    try:
        receipt = sender.wait(sent, timeout=20)
    finally:
        miner.cancel()
    mined_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    assert mined_hash != sent.tx_hash  # a re-priced version was mined
    mined_tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert mined_tx["maxFeePerGas"] > sent.tx["maxFeePerGas"]  # type: ignore[index]
    assert mined_tx["nonce"] == sent.nonce
    recorded = state.tx("p40")
    assert recorded is not None and (recorded.tx_hash, recorded.status) == (mined_hash, "mined")
    assert emitter.functions.count().call() == 1
