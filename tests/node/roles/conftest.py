"""Fixtures of the roles suite, on whichever chain ape's session runs (`make test` runs it on
anvil, `--network ethereum:local:foundry`; plain `ape test` on the embedded chain): the
protocol deployed with ape, the provider's web3 handed to the roles, a shared local content
store, and a driver that ticks roles and moves chain time deterministically."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from node.chain.abi import build_artifacts
from node.roles.context import RoleContext
from node.roles.safety import DEVNET_FLOORS
from node.storage.local import LocalStore

ROOT = Path(__file__).resolve().parents[3]
ETHER_ASSET = "0x" + "00" * 20  # StakeManager's asset for an ether market


@dataclass
class Deployed:
    addresses: dict[str, str | None]
    abis: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="session")
def deployed(project: Any, accounts: Any) -> Deployed:
    deployer = accounts[0]
    stake = deployer.deploy(project.StakeManager, ETHER_ASSET)
    step = deployer.deploy(project.TensorStep)
    floors = DEVNET_FLOORS  # what local deployments get (60 s, 0.0018 ETH)
    market = deployer.deploy(project.JobMarket, stake.address, floors.min_clock, floors.min_bond)
    game = deployer.deploy(project.DisputeGame, market.address, step.address, 4)
    market.setGame(game.address, sender=deployer)
    stake.setMarket(market.address, sender=deployer)
    built = build_artifacts(ROOT / ".build")
    abis = {n: built[n].abi for n in ("JobMarket", "StakeManager", "DisputeGame", "TensorStep")}
    return Deployed(
        {
            "job_market": market.address,
            "stake_manager": stake.address,
            "dispute_game": game.address,
            "tensor_step": step.address,
        },
        abis,
    )


@pytest.fixture
def w3(chain: Any) -> Any:
    return chain.provider.web3


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def make_ctx(
    w3: Any, accounts: Any, store: LocalStore, deployed: Deployed, tmp_path: Path
) -> Iterator[Callable[[int, str], RoleContext]]:
    made: list[RoleContext] = []

    def make(index: int, name: str) -> RoleContext:
        acct = Account.from_key(accounts[index].private_key)
        ctx = RoleContext.build(w3, acct, store, tmp_path / name, deployed.addresses, deployed.abis)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
