"""The protocol on a chain we control (anvil, or ape's embedded chain): deployment from the
shipped artifacts, or from `ape compile`'s .build in a development checkout. For the
benchmark, the integration tests and the demo."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.chain.abi import ABI_DIR, PROTOCOL_CONTRACTS, REPO_BUILD, available, export_from_build
from node.chain.revert import protocol_decoder
from node.chain.sender import TxSender
from node.devnet.deploy import DeployedProtocol, deploy_protocol
from node.roles.context import RoleContext


@dataclass(frozen=True)
class LocalProtocol:
    deployment: DeployedProtocol
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


class LocalScenario:
    """A chain we control with the protocol deployed, one content store, and a RoleContext per
    anvil dev account (0 deployer, 1 poster, 2 provider, 3.. challengers): what the benchmark
    and the demo run in one process.

        with LocalScenario(Path("/tmp/run")) as sc:
            client = JobClient(sc.ctx(1, "poster"))
    """

    def __init__(self, work: Path, w3: Web3 | None = None) -> None:
        from node.chain.abi import protocol_abis
        from node.chain.rpc import connect
        from node.devnet.anvil import AnvilNode
        from node.storage.local import LocalStore

        self.work = work
        self.anvil = AnvilNode.start(work / "anvil") if w3 is None else None
        try:
            self.w3 = w3 or connect(self.anvil.rpc_url)  # type: ignore[union-attr]
            self.local = deploy_local(self.w3, dev_account(0))
            self.abis = protocol_abis(self.local.abi_dir)
            self.store = LocalStore(work / "store")
        except BaseException:
            self.close()
            raise
        self._contexts: list[RoleContext] = []

    def ctx(self, index: int, name: str) -> RoleContext:
        c = RoleContext.build(
            self.w3,
            dev_account(index),
            self.store,
            self.work / name,
            dict(self.local.deployment.addresses),
            self.abis,
            self.local.deployment.block,
        )
        self._contexts.append(c)
        return c

    def advance(self, seconds: int) -> None:
        """Move chain time forward (anvil): windows and clocks run out."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def close(self) -> None:
        for c in getattr(self, "_contexts", []):
            c.close()
        if self.anvil is not None:
            self.anvil.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
