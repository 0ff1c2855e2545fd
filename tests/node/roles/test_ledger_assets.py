"""The earnings ledger keeps each entry's asset (node.roles.earnings): a token market's payouts
are in its token, gas in ether, and `summary` nets each asset apart. A state folder written
before the asset was kept opens (schema 2 -> 3) and reads on: its gas as ether, the rest as the
market's asset. No chain: the ledger reads only the state store and the deployment's asset
(under a second in all)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.chain.contracts.token import ETHER, ETHER_ADDRESS, Asset
from node.roles.earnings import EARNED, LOST, Entry, Kind, Ledger
from node.state.store import SCHEMA_VERSION, StateStore

ME = "0x" + "ab" * 20
TOKEN = Asset("0x" + "C0" * 20, "mUSD", 6)
MINE = TOKEN.address.lower()


def _ledger(store: StateStore, asset: Asset) -> Ledger:
    """A ledger over `store` for a deployment whose market pays in `asset`."""
    ctx: Any = SimpleNamespace(address=ME, state=store, deployment=SimpleNamespace(asset=asset))
    return Ledger(ctx)


def _schema_2_folder(path: Path) -> None:
    """A state database as schema 2 wrote it: ledger rows without an asset."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE ledger (key TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL);"
        "PRAGMA user_version=2;"
    )
    rows = [
        ("0xaa:0", {"kind": "reward", "amount": 7_000_000, "job_id": 1, "claim_id": 1}),
        ("gas:0xbb", {"kind": "gas", "amount": 123_456, "job_id": 1, "what": "claim"}),
        ("0xcc:2", {"kind": "withdrawn", "amount": 7_000_000}),
    ]
    for key, data in rows:
        conn.execute("INSERT INTO ledger VALUES (?, ?, 1.0)", (key, json.dumps(data)))
    conn.commit()
    conn.close()


def test_an_old_ledger_opens_and_reads_its_payouts_in_the_markets_token(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    _schema_2_folder(path)
    with StateStore(path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        stored = store.ledger_entries()
        assert stored["gas:0xbb"]["asset"] == ETHER_ADDRESS  # the migration tags the gas
        assert "asset" not in stored["0xaa:0"]  # the store does not know the market's asset
        s = _ledger(store, TOKEN).summary()
        assert s["assets"] == {
            ETHER_ADDRESS: {"symbol": "ETH", "decimals": 18},
            MINE: {"symbol": "mUSD", "decimals": 6},
        }
        assert s["totals"][MINE]["net"] == 7_000_000 and s["totals"][MINE]["gas"] == 0
        assert s["totals"][MINE]["withdrawn"] == 7_000_000
        assert s["totals"][ETHER_ADDRESS]["net"] == -123_456
        job = s["jobs"][1]  # the job's reward in mUSD, its claim's gas in ETH
        assert (job[MINE]["reward"], job[MINE]["net"]) == (7_000_000, 7_000_000)
        assert (job[ETHER_ADDRESS]["gas"], job[ETHER_ADDRESS]["net"]) == (123_456, -123_456)
        # an ether market's old folder: one asset, net as before
        ether = _ledger(store, ETHER).summary()["totals"]
        assert list(ether) == [ETHER_ADDRESS]
        assert ether[ETHER_ADDRESS]["net"] == 7_000_000 - 123_456
    with StateStore(path) as store:  # reopening changes nothing
        assert _ledger(store, TOKEN).summary()["totals"][MINE]["net"] == 7_000_000


def test_new_entries_record_their_asset(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        ledger = _ledger(store, TOKEN)
        ledger._record("k", Entry(Kind.BOUNTY, 5, asset=MINE))
        (entry,) = ledger.entries()
        assert entry.asset == MINE and store.ledger_entries()["k"]["asset"] == MINE


_entries = st.lists(
    st.tuples(st.sampled_from(list(Kind)), st.integers(0, 10**30), st.booleans()), max_size=30
)


@settings(max_examples=40, deadline=None)
@given(_entries)
def test_net_is_per_asset_and_gas_only_in_ether(tmp_path_factory: Any, drawn: Any) -> None:
    path = tmp_path_factory.mktemp("ledger") / "s.db"
    with StateStore(path) as store:
        ledger = _ledger(store, TOKEN)
        for n, (kind, amount, in_token) in enumerate(drawn):
            asset = ETHER_ADDRESS if kind == Kind.GAS or not in_token else MINE
            ledger._record(f"e{n}", Entry(kind, amount, asset=asset))
        totals = ledger.summary()["totals"]
        for asset in (ETHER_ADDRESS, MINE):
            mine = [(k, a) for k, a, t in drawn if (t and k != Kind.GAS) == (asset == MINE)]
            earned = sum(a for k, a in mine if k in EARNED)
            lost = sum(a for k, a in mine if k in LOST)
            gas = sum(a for k, a in mine if k == Kind.GAS)
            if not mine:
                assert asset not in totals
                continue
            got = totals[asset]
            assert (got["earned"], got["lost"], got["gas"]) == (earned, lost, gas)
            assert got["net"] == earned - lost - gas
        if MINE in totals:
            assert totals[MINE]["gas"] == 0 and totals[MINE]["transactions"] == 0
