import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from chain_helpers import compile_contract
from eth_account import Account

from node.chain.errors import TransactionReverted
from node.chain.revert import RevertDecoder
from node.chain.sender import TxSender


def test_probe(chain: Any, accounts: Any) -> None:
    art = compile_contract("Emitter")
    w3 = chain.provider.web3
    acct = Account.from_key(accounts[1].private_key)
    s = TxSender(w3, acct, RevertDecoder([art["abi"]]))
    addr = s.deploy(art["abi"], art["bytecode"], [], name="Emitter")
    c = w3.eth.contract(address=addr, abi=art["abi"])
    assert s.transact(c.functions.ping(11, b"\0"*32, "x"))["status"] == 1
    for fn in (c.functions.ping(1, b"\0"*32, "x"), c.functions.fail("boom"), c.functions.divide(1, 0)):
        try:
            s.transact(fn)
        except TransactionReverted as e:
            print("OK reverted:", e)
        except Exception as e:
            print("OTHER", type(e).__mro__, str(e)[:300])
