"""`poc deploy`: deploy and wire the protocol contracts on any chain reachable by RPC (a public
testnet, an L2, a local node), from the ABIs and bytecode shipped in the package (click only)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from node.cli.role_options import (
    block_time_option,
    config_option,
    gas_price_option,
    json_option,
)


@click.command("deploy")
@config_option
@click.option("--rpc-url", default=None, help="JSON-RPC endpoint (default: from the config).")
@click.option(
    "--write-config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write a config file with the endpoint, the chain id, the addresses and the start "
    "block, for providers, watchtowers and posters to share.",
)
@block_time_option("the chain's block time in seconds (default: the median of the last 20 blocks)")
@gas_price_option(
    "gas price in gwei that the minimum bond must pay a defence at (default: the "
    "node's current gas price; pass a high percentile on a busy chain)"
)
@click.option(
    "--safety",
    type=click.FloatRange(min=1),
    default=3.0,
    show_default=True,
    help="safety factor of the clock floor",
)
@click.option(
    "--token",
    default=None,
    help="pay the market in an ERC-20: its address, or 'mock' to deploy a 6-decimal "
    "MockStablecoin (test chains; mints 1M mUSD to the deployer); default: ether",
)
@click.option(
    "--asset-price-eth",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="with --token: ETH per whole token, to set the bond floor in the token "
    "(default for --token mock: 0.0003)",
)
@json_option
def deploy_cmd(
    config_file: Path | None,
    rpc_url: str | None,
    write_config: Path | None,
    block_time: float | None,
    gas_price_gwei: float | None,
    safety: float,
    token: str | None,
    asset_price_eth: float | None,
    as_json: bool,
) -> None:
    """Deploy StakeManager, TensorStep, JobMarket and DisputeGame with the configured keystore
    (POC_KEYSTORE, password from POC_PASSWORD or password_file), then wire them.

    The market's floors are derived for the target chain (docs/protocol.md §6.5): minimum clock
    = max(60 s, 18 provider moves x block time x safety), minimum bond = 1.8M gas (a full
    defence) x gas price."""
    from node.chain.revert import protocol_decoder
    from node.chain.sender import TxSender
    from node.config import settings as cfg
    from node.config import wiring
    from node.devnet.deploy import MOCK_PRICE_ETH, deploy_protocol, resolve_asset
    from node.devnet.errors import DevnetError
    from node.roles.safety import GWEI, deploy_floors, measure_block_time

    overrides = {"rpc_url": rpc_url} if rpc_url else {}
    settings = cfg.load_settings(config_file, **overrides)
    w3 = wiring.web3(settings)
    measured = ""
    if block_time is None:
        block_time = measure_block_time(w3)
        measured = " (measured)"
        if block_time is None:
            block_time, measured = 1.0, " (no block history: assumed; pass --block-time)"
    gas_price = int(w3.eth.gas_price) if gas_price_gwei is None else int(gas_price_gwei * GWEI)
    try:
        floors = deploy_floors(block_time, gas_price, safety)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    account = wiring.account(settings)
    sender = TxSender(w3, account, protocol_decoder())
    try:
        asset = resolve_asset(sender, token, mint_to=(str(account.address),))
        if token is not None and token.lower() == "mock" and asset_price_eth is None:
            asset_price_eth = MOCK_PRICE_ETH
        deployment = deploy_protocol(
            sender, floors=floors, asset=asset, asset_price_eth=asset_price_eth
        )
    except DevnetError as exc:
        raise click.UsageError(str(exc)) from None
    chain_id = int(w3.eth.chain_id)
    if write_config is not None:
        values = settings.model_dump(mode="json", exclude_none=True)
        values.update(
            rpc_url=settings.rpc_url,
            chain_id=chain_id,
            contracts=deployment.addresses,
            start_block=deployment.block,
        )
        values.pop("keystore", None)  # each operator names its own key
        cfg.write_config(write_config, values)
    if as_json:
        out = {
            "chain_id": chain_id,
            "start_block": deployment.block,
            **deployment.addresses,
            "block_time": block_time,
            "gas_price": gas_price,
            "min_clock": floors.min_clock,
            "min_bond": (deployment.floors or floors).min_bond,
            "asset": asset,
        }
        click.echo(json.dumps(out))
        return
    click.echo(
        f"deployed on chain {chain_id} by {account.address} (start block {deployment.block})"
    )
    click.echo(
        f"  block time {block_time:g} s{measured}, gas price {gas_price / GWEI:g} gwei: "
        f"minimum clock {floors.min_clock} s, minimum bond {floors.min_bond} wei"
    )
    if int(asset, 16) != 0 and deployment.floors is not None:
        click.echo(
            f"  paid in the token {asset} at {asset_price_eth:g} ETH per token: minimum bond "
            f"{deployment.floors.min_bond} base units of it"
        )
    click.echo(f"  {'asset':<14} {'ether' if int(asset, 16) == 0 else asset}")
    for name, address in deployment.addresses.items():
        click.echo(f"  {name:<14} {address}")
    if write_config is not None:
        click.echo(f"config written to {write_config}")
