"""The event scanner against anvil: decoded events in order, a persisted checkpoint,
confirmations, and re-delivery after a failed handler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chain_helpers import rpc
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from node.chain.scanner import ChainEvent, EventScanner
from node.chain.sender import TxSender
from node.state import StateStore

pytestmark = pytest.mark.integration


def _ping(w3: Web3, account: LocalAccount, emitter: Contract, *ids: int) -> None:
    sender = TxSender(w3, account)
    for i in ids:
        sender.transact(emitter.functions.ping(i, i.to_bytes(32, "big"), f"note {i}"))


def _scanner(
    w3: Web3, emitter: Contract, store: StateStore, confirmations: int = 0
) -> EventScanner:
    start = int(w3.eth.block_number)  # the deployment block: nothing of interest before it
    return EventScanner(
        w3, {"emitter": emitter}, store, start_block=start, confirmations=confirmations
    )


def test_events_are_decoded_in_order_and_handled_once(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path
) -> None:
    store = StateStore(tmp_path / "s.db")
    scanner = _scanner(w3, emitter, store)
    _ping(w3, account, emitter, 10, 11, 12)
    seen: list[ChainEvent] = []
    assert scanner.scan(seen.append) == 3
    assert [e.args["id"] for e in seen] == [10, 11, 12]
    assert seen[0].name == "Pinged" and seen[0].contract == "emitter"
    assert seen[0].args["from"] == account.address and seen[0].args["note"] == "note 10"
    assert scanner.scan(seen.append) == 0


def test_checkpoint_survives_a_restart(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path
) -> None:
    first = _scanner(w3, emitter, StateStore(tmp_path / "s.db"))
    _ping(w3, account, emitter, 10)
    assert first.scan(lambda e: None) == 1
    _ping(w3, account, emitter, 11)
    restarted = EventScanner(w3, {"emitter": emitter}, StateStore(tmp_path / "s.db"))
    seen: list[ChainEvent] = []
    assert restarted.scan(seen.append) == 1
    assert seen[0].args["id"] == 11


def test_events_wait_for_their_confirmations(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path
) -> None:
    scanner = _scanner(w3, emitter, StateStore(tmp_path / "s.db"), confirmations=2)
    _ping(w3, account, emitter, 10)
    assert scanner.scan(lambda e: None) == 0
    rpc(w3, "anvil_mine", 2)
    assert scanner.scan(lambda e: None) == 1


def test_a_failing_handler_leaves_the_range_for_the_next_scan(
    w3: Web3, account: LocalAccount, emitter: Contract, tmp_path: Path
) -> None:
    store = StateStore(tmp_path / "s.db")
    scanner = _scanner(w3, emitter, store)
    _ping(w3, account, emitter, 10, 11)

    def crash_on_second(event: ChainEvent) -> None:
        store.upsert_job(event.args["id"], 1, {})
        if event.args["id"] == 11:
            raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError):
        scanner.scan(crash_on_second)
    assert store.jobs() == {}  # the partial batch was rolled back with the checkpoint
    assert scanner.scan(lambda e: store.upsert_job(e.args["id"], 1, {})) == 2
    assert sorted(store.jobs()) == [10, 11]


def test_a_range_the_node_refuses_is_split(
    w3: Web3,
    account: LocalAccount,
    emitter: Contract,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from web3.exceptions import Web3RPCError

    scanner = _scanner(w3, emitter, StateStore(tmp_path / "s.db"))
    _ping(w3, account, emitter, 10, 11, 12, 13)
    real_get_logs = w3.eth.get_logs
    widths: list[int] = []

    def capped(params: Any) -> Any:
        width = params["toBlock"] - params["fromBlock"] + 1
        widths.append(width)
        if width > 2:
            raise Web3RPCError("query exceeds max block range 2")
        return real_get_logs(params)

    monkeypatch.setattr(w3.eth, "get_logs", capped)
    seen: list[ChainEvent] = []
    assert scanner.scan(seen.append) == 4
    assert [e.args["id"] for e in seen] == [10, 11, 12, 13]
    assert max(widths) > 2 and min(widths) <= 2  # refused once, then served in halves
