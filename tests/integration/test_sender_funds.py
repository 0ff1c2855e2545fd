"""An account that cannot pay (issue 17, item 2): a clear error with the balance and what the
transaction needs, exit code 9, nothing broadcast and no nonce lost; on a real anvil."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.chain.errors import InsufficientFunds
from node.chain.sender import TxRequest, TxSender
from node.state import StateStore

pytestmark = pytest.mark.integration


def _fund(w3: Web3, funder: LocalAccount, to: str, wei: int) -> None:
    TxSender(w3, funder).send(TxRequest(to=to, data=b"", value=wei))


def test_a_value_beyond_the_balance_is_named_before_anything_is_sent(
    w3: Web3, account: LocalAccount, tmp_path: Path
) -> None:
    poor = Account.create()
    _fund(w3, account, poor.address, 10**15)
    sender = TxSender(w3, poor, state=StateStore(tmp_path / "s.db"))
    with pytest.raises(InsufficientFunds, match=r"holds 1000000000000000 wei") as err:
        sender.send(TxRequest(to=account.address, data=b"", value=10**18, description="pay"))
    assert err.value.exit_code == 9 and "fund the account" in str(err.value)
    assert w3.eth.get_transaction_count(poor.address) == 0


def test_gas_beyond_the_balance_is_named_and_the_nonce_stays_free(
    w3: Web3, account: LocalAccount, tmp_path: Path
) -> None:
    """The dry run passes (eth_call charges no gas); the node refuses the signed transaction:
    nothing is sent, and after funding the next transaction takes nonce 0."""
    poor = Account.create()
    _fund(w3, account, poor.address, 1000)  # 1000 wei: the value fits, the gas does not
    sender = TxSender(w3, poor, state=StateStore(tmp_path / "s.db"))
    request = TxRequest(to=account.address, data=b"", value=1, description="tip", key="tip:1")
    with pytest.raises(InsufficientFunds, match="holds 1000 wei"):
        sender.send(request)
    _fund(w3, account, poor.address, 10**17)
    receipt = sender.send(request)
    assert receipt["status"] == 1 and w3.eth.get_transaction_count(poor.address) == 1
