"""`poc explorer`: serve the read-only explorer for the configured deployment."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from node.cli.role_options import config_option, settings
from node.explorer.server import DEFAULT_HOST, DEFAULT_PORT


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("explorer")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on (another than loopback lets other machines read the pages).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port (0: any free one).",
)
@click.option(
    "--no-node-state",
    is_flag=True,
    help="Show the chain only, not this node's provider/watchtower/poster state folders.",
)
@config_option
def explorer_cmd(host: str, port: int, no_node_state: bool, config_file: Path | None) -> None:
    """Serve a read-only web page of the market's jobs, claims and games (moves, gas, clocks,
    who was paid what), from the chain and this node's state folders."""
    from node.chain.abi import protocol_abis
    from node.chain.contracts.deployment import Deployment
    from node.config import wiring
    from node.config.settings import ConfigError, config_search
    from node.explorer.node_state import NodeState
    from node.explorer.server import ExplorerServer
    from node.explorer.views import Explorer

    s = settings(config_file)
    if s.contracts.job_market is None:
        raise ConfigError(
            f"no protocol deployment configured: {config_search()}; run this where "
            "`poc devnet up` or `poc deploy` wrote .poc/config.json, pass --config, or set "
            "POC_RPC_URL and POC_CONTRACTS__*"
        )
    w3 = wiring.web3(s)
    deployment = Deployment.from_addresses(w3, s.contracts, protocol_abis(), s.start_block)
    node_state = NodeState({}) if no_node_state else NodeState.under(s.data_dir)
    explorer = Explorer(deployment, node_state)
    click.echo(f"reading the market's events from block {s.start_block} ...", err=True)
    explorer.refresh()
    server = ExplorerServer(explorer, host, port)
    if not _is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who reaches this machine can read these "
            "pages (they are read-only)",
            err=True,
        )
    info = explorer.chain_info()
    click.echo(
        f"explorer: {server.url} (chain {info.chain_id}, market {info.addresses['job_market']}, "
        f"{info.jobs} jobs); Ctrl-C stops it"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("explorer stopped", err=True)
    finally:
        server.stop()
