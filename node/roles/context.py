"""What every role runs on: a web3 connection, an unlocked account, the content store, a data
folder (SQLite state, downloaded packages), the deployed protocol (node.chain.contracts'
Deployment: one binding per contract) and the one path every transaction takes (`send`, the
TxSender: dry run, intent key, nonce, receipt). Built from Settings by `from_settings`, or
handed in directly (tests, the demo: an in-process chain)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.chain.abi import protocol_abis
from node.chain.contracts.deployment import Deployment
from node.chain.sender import TxRequest, TxSender
from node.config.settings import Settings
from node.state.store import StateStore
from node.storage.base import ContentStore


@dataclass
class RoleContext:
    w3: Web3
    account: LocalAccount
    store: ContentStore
    data_dir: Path
    deployment: Deployment
    confirmations: int = 0  # event scans stay this many blocks behind the head
    state: StateStore = field(init=False)
    sender: TxSender = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = StateStore(self.data_dir / "state.db")
        self.state.bind_to(self.chain_identity(), head=int(self.w3.eth.block_number))
        self.sender = TxSender(self.w3, self.account, self.deployment.decoder, self.state)

    def chain_identity(self) -> dict[str, str]:
        """What the state folder is bound to: the chain (id, genesis) and the deployment."""
        genesis = self.w3.eth.get_block(0)["hash"]
        return {
            "chain_id": str(self.w3.eth.chain_id),
            "genesis": "0x" + bytes(genesis).hex(),
            **{k: str(v).lower() for k, v in self.deployment.addresses.items()},
        }

    @property
    def address(self) -> str:
        return str(self.account.address)

    def send(self, request: TxRequest) -> Any:
        """Every transaction a role makes goes here (the TxSender: dry run, intent key,
        nonce, receipt); requests come from the bindings' builders."""
        return self.sender.send(request)

    def pay(self, spender: str, amount: int) -> None:
        """Before a call that takes `amount` of the asset: on a token market, approve `spender`
        (the market or the stake manager) for it unless the allowance already covers it; on an
        ether market nothing (the amount travels as the call's value)."""
        token = self.deployment.token
        if token is None or amount <= 0:
            return
        if token.allowance(self.address, spender) < amount:
            self.send(token.approve(spender, amount))

    def close(self) -> None:
        self.state.close()

    @classmethod
    def build(
        cls,
        w3: Web3,
        account: LocalAccount,
        store: ContentStore,
        data_dir: Path,
        addresses: dict[str, str | None],
        abis: dict[str, list[dict[str, Any]]] | None = None,
        start_block: int = 0,
    ) -> RoleContext:
        deployment = Deployment.from_addresses(w3, addresses, abis, start_block)
        return cls(w3, account, store, Path(data_dir), deployment)

    @classmethod
    def from_settings(
        cls, settings: Settings, role_dir: str, read_only: bool = False
    ) -> RoleContext:
        """Services from the settings; the role's state lives in `<data_dir>/<role_dir>`.
        `read_only` commands (status, result) need no keystore: without one they get a fresh
        throwaway key that never signs anything."""
        from node.config import wiring
        from node.config.settings import ConfigError, config_search

        if settings.contracts.job_market is None:
            # say so before connecting: an unreachable default RPC would hide the real problem
            raise ConfigError(
                "no protocol deployment configured: "
                f"{config_search()}; run this where `poc devnet up` or `poc deploy` wrote "
                ".poc/config.json, pass --config, or set POC_RPC_URL and POC_CONTRACTS__*"
            )
        w3 = wiring.web3(settings)
        if read_only and settings.keystore is None:
            from eth_account import Account

            account: LocalAccount = Account.create()
        else:
            account = wiring.account(settings)
        store = wiring.content_store(settings)
        addresses = settings.contracts.model_dump()
        deployment = Deployment.from_addresses(w3, addresses, protocol_abis(), settings.start_block)
        return cls(
            w3, account, store, settings.data_dir / role_dir, deployment, settings.confirmations
        )


def withdraw_credits(ctx: RoleContext) -> int:
    """Pull the account's market credits (rewards, refunds, bonds, bounties); returns them."""
    market = ctx.deployment.market
    amount = market.credits(ctx.address)
    if amount > 0:
        ctx.send(market.withdraw())
    return amount
