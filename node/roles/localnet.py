"""The protocol on a chain we control (anvil, or ape's embedded chain): deployment from the
shipped artifacts, or from `ape compile`'s .build in a development checkout. For the
benchmark, the integration tests and the demo."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.chain.abi import ABI_DIR, PROTOCOL_CONTRACTS, available, export_from_build
from node.chain.bindings import protocol_decoder
from node.chain.sender import TxSender
from node.devnet.deploy import Deployment, deploy_protocol
from node.roles.protocol import REPO_BUILD


@dataclass(frozen=True)
class LocalProtocol:
    deployment: Deployment
    abi_dir: Path


def artifact_dir(build_dir: Path = REPO_BUILD) -> Path:
    """node/abi when it ships every protocol contract, else a fresh export of .build."""
    if all(n in available(ABI_DIR) for n in PROTOCOL_CONTRACTS):
        return ABI_DIR
    out = Path(tempfile.mkdtemp(prefix="poc-abi-"))
    export_from_build(build_dir, out)
    return out


def deploy_local(w3: Web3, deployer: LocalAccount, build_dir: Path = REPO_BUILD) -> LocalProtocol:
    abi_dir = artifact_dir(build_dir)
    sender = TxSender(w3, deployer, protocol_decoder(abi_dir))
    return LocalProtocol(deploy_protocol(sender, abi_dir), abi_dir)


def dev_account(index: int) -> LocalAccount:
    from node.devnet.anvil import dev_private_key

    acct: LocalAccount = Account.from_key(dev_private_key(index))
    return acct
