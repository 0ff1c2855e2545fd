"""`poc deploy`: deploy and wire the protocol contracts on any chain reachable by RPC (a public
testnet, an L2, a local node), from the ABIs and bytecode shipped in the package (click only)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from node.cli.role_options import config_option, json_option


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
@json_option
def deploy_cmd(
    config_file: Path | None, rpc_url: str | None, write_config: Path | None, as_json: bool
) -> None:
    """Deploy StakeManager, TensorStep, JobMarket and DisputeGame with the configured keystore
    (POC_KEYSTORE, password from POC_PASSWORD or password_file), then wire them."""
    from node.chain.revert import protocol_decoder
    from node.chain.sender import TxSender
    from node.config import settings as cfg
    from node.config import wiring
    from node.devnet.deploy import deploy_protocol

    overrides = {"rpc_url": rpc_url} if rpc_url else {}
    settings = cfg.load_settings(config_file, **overrides)
    w3 = wiring.web3(settings)
    account = wiring.account(settings)
    deployment = deploy_protocol(TxSender(w3, account, protocol_decoder()))
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
        out = {"chain_id": chain_id, "start_block": deployment.block, **deployment.addresses}
        click.echo(json.dumps(out))
        return
    click.echo(
        f"deployed on chain {chain_id} by {account.address} (start block {deployment.block})"
    )
    for name, address in deployment.addresses.items():
        click.echo(f"  {name:<14} {address}")
    if write_config is not None:
        click.echo(f"config written to {write_config}")
