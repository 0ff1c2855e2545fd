"""Deployment of the protocol contracts (docs/protocol.md §6A) from the shipped artifacts.

Constructor arguments are matched to earlier deployments by parameter name (`stakes_`,
`market_`, `verifier_`, `log2Arity`, ...), so the plan follows the contracts' ABIs instead of
hard-coding their signatures; an unknown parameter name is a clear error, not a guess. The
market's floors (`minClock_`, `minBond_`) come from node.roles.safety: `poc deploy` derives them
from the target chain, local chains get DEVNET_FLOORS (60 s, 0.0018 ETH)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.chain.abi import ABI_DIR, load_artifact
from node.chain.sender import TxSender
from node.devnet.errors import DevnetError
from node.roles.safety import DEVNET_FLOORS, Floors, floors_in_asset

log = logging.getLogger(__name__)

LOG2_ARITY = 4  # protocol.md §6.1: k = 16
UNBONDING_DELAY = 36 * 24 * 3600  # protocol.md §6.1, for a StakeManager that takes it
ETHER_ASSET = "0x" + "00" * 20  # StakeManager's asset for an ether market (protocol.md §6.7)
# Deployment order: each contract's constructor needs only contracts before it.
ORDER = ("StakeManager", "TensorStep", "JobMarket", "DisputeGame")
_SETTINGS_KEY = {
    "StakeManager": "stake_manager",
    "TensorStep": "tensor_step",
    "JobMarket": "job_market",
    "DisputeGame": "dispute_game",
}


@dataclass(frozen=True)
class DeployedProtocol:
    """Where a deployment put the contracts, and the block it started at."""

    addresses: dict[str, str]  # settings key (job_market, ...) -> address
    block: int  # first block of the deployment: scanners start here
    floors: Floors | None = None  # the market's floors as deployed (the bond in the asset)
    asset: str = "0x" + "00" * 20  # ether, or the ERC-20 the market is paid in


def _constructor_inputs(abi: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for entry in abi:
        if entry.get("type") == "constructor":
            return list(entry.get("inputs", []))
    return []


def _argument(
    contract: str, param: dict[str, Any], deployed: dict[str, str], floors: Floors, asset: str
) -> Any:
    name = str(param.get("name", "")).lower().strip("_")
    rules: list[tuple[tuple[str, ...], str | int]] = [
        (("asset",), asset),
        (("minclock",), floors.min_clock),
        (("minbond",), floors.min_bond),
        (("arity",), LOG2_ARITY),
        (("unbond", "delay"), UNBONDING_DELAY),
        (("stake",), "StakeManager"),
        (("verifier", "step"), "TensorStep"),
        (("market",), "JobMarket"),
        (("game",), "DisputeGame"),
    ]
    for words, value in rules:
        if any(word in name for word in words):
            if isinstance(value, int) or value not in ORDER:  # a literal, not a contract
                return value
            if value not in deployed:
                raise DevnetError(
                    f"{contract}({param.get('name')}) needs {value}, not deployed yet"
                )
            return deployed[value]
    raise DevnetError(
        f"do not know what to pass for {contract} constructor parameter {param.get('name')!r}"
    )


def deploy_protocol(
    sender: TxSender,
    abi_dir: Path = ABI_DIR,
    floors: Floors = DEVNET_FLOORS,
    asset: str = ETHER_ASSET,
    asset_price_eth: float | None = None,
) -> DeployedProtocol:
    """Deploy and wire StakeManager, TensorStep, JobMarket and DisputeGame; the market with
    `floors` (its minimum clock and bond, in wei), escrow and stake in `asset` (ETHER_ASSET:
    ether, else an ERC-20's address, protocol.md §6.7). On a token market the bond floor is
    converted to the token at `asset_price_eth` (ETH per whole token; required then)."""
    if int(asset, 16) != 0:
        if asset_price_eth is None:
            raise DevnetError(
                "a token market's bond floor needs the token's price in ETH (--asset-price-eth)"
            )
        floors = floors_in_asset(floors, token_decimals(sender, asset), asset_price_eth)
    w3 = sender.w3
    start = int(w3.eth.block_number) + 1
    deployed: dict[str, str] = {}
    abis: dict[str, list[dict[str, Any]]] = {}
    for name in ORDER:
        artifact = load_artifact(name, abi_dir)
        if artifact.bytecode in ("", "0x"):
            raise DevnetError(f"{name} has no bytecode in {abi_dir}; re-export after compiling")
        inputs = _constructor_inputs(artifact.abi)
        args = [_argument(name, p, deployed, floors, asset) for p in inputs]
        deployed[name] = sender.deploy(artifact.abi, artifact.bytecode, args, name=name)
        abis[name] = artifact.abi
        log.info("deployed %s at %s", name, deployed[name])
    # One-time wiring by the deployer (protocol.md §6A), where the contracts have it.
    wiring = [("JobMarket", "setGame", "DisputeGame"), ("StakeManager", "setMarket", "JobMarket")]
    for owner, function, target in wiring:
        if any(e.get("name") == function for e in abis[owner]):
            contract = w3.eth.contract(address=deployed[owner], abi=abis[owner])  # type: ignore[call-overload]
            sender.transact(contract.functions[function](deployed[target]))
    addresses = {_SETTINGS_KEY[n]: a for n, a in deployed.items()}
    if (abi_dir / "ReplicaMarket.json").exists():
        addresses.update(_deploy_replicas(sender, abi_dir, deployed, floors))
    return DeployedProtocol(addresses, start, floors, asset)


def _deploy_replicas(
    sender: TxSender, abi_dir: Path, deployed: dict[str, str], floors: Floors
) -> dict[str, str]:
    """The replica market (protocol.md §6.8) beside the deployed protocol: ReplicaMarket on the
    same StakeManager and floors, its own DisputeGame instance, both wired one time."""
    w3 = sender.w3
    rm = load_artifact("ReplicaMarket", abi_dir)
    game = load_artifact("DisputeGame", abi_dir)
    stake_args = [deployed["StakeManager"], floors.min_clock, floors.min_bond]
    market = sender.deploy(rm.abi, rm.bytecode, stake_args, name="ReplicaMarket")
    rgame = sender.deploy(
        game.abi, game.bytecode, [market, deployed["TensorStep"], LOG2_ARITY], name="ReplicaGame"
    )
    stake = load_artifact("StakeManager", abi_dir)
    rm_contract = w3.eth.contract(address=market, abi=rm.abi)  # type: ignore[call-overload]
    sender.transact(rm_contract.functions.setGame(rgame))
    stake_contract = w3.eth.contract(address=deployed["StakeManager"], abi=stake.abi)  # type: ignore[call-overload]
    sender.transact(stake_contract.functions.setReplicaMarket(market))
    log.info("deployed ReplicaMarket at %s (its DisputeGame at %s)", market, rgame)
    return {"replica_market": str(market), "replica_game": str(rgame)}


# `--token mock`: a MockStablecoin (contracts/test, 6 decimals, open mint) deployed for a devnet
MOCK_TOKEN = "MockStablecoin"
MOCK_MINT = 1_000_000 * 10**6  # 1M mUSD to each account named
# the price a devnet assumes for mUSD (a dollar at 3,333 $/ETH): the bond floor in mUSD units
MOCK_PRICE_ETH = 0.0003


def resolve_asset(
    sender: TxSender, token: str | None, abi_dir: Path = ABI_DIR, mint_to: tuple[str, ...] = ()
) -> str:
    """The asset address for `deploy_protocol` from a `--token` option: None or 'eth' ->
    ether; 'mock' -> a fresh MockStablecoin, MOCK_MINT minted to each of `mint_to`; else an
    ERC-20 address, which must hold code (DevnetError otherwise)."""
    w3 = sender.w3
    if token is None or token.lower() in ("eth", "ether"):
        return ETHER_ASSET
    if token.lower() == "mock":
        artifact = load_artifact(MOCK_TOKEN, abi_dir)
        address = sender.deploy(artifact.abi, artifact.bytecode, [], name=MOCK_TOKEN)
        contract = w3.eth.contract(address=address, abi=artifact.abi)  # type: ignore[call-overload]
        for who in mint_to:
            sender.transact(contract.functions.mint(who, MOCK_MINT))
        log.info("deployed %s at %s, minted to %d accounts", MOCK_TOKEN, address, len(mint_to))
        return str(address)
    if not w3.is_address(token):
        raise DevnetError(f"--token {token!r} is neither 'mock', 'eth' nor an address")
    address = w3.to_checksum_address(token)
    if not w3.eth.get_code(address):
        raise DevnetError(f"--token {address} has no code on this chain: not an ERC-20")
    return str(address)


def token_decimals(sender: TxSender, token: str) -> int:
    """The ERC-20's `decimals()`; DevnetError if it has none."""
    from node.chain.contracts.token import TokenContract

    try:
        return int(TokenContract(sender.w3, token).read("decimals"))
    except Exception as exc:  # noqa: BLE001 (any failure: not an ERC-20 with decimals)
        raise DevnetError(f"{token} answers no decimals(): not an ERC-20 ({exc})") from None
