"""`poc devnet`: start and stop a local chain and IPFS node (click wiring only)."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.role_options import PocGroup
from node.config.settings import DEFAULT_DATA_DIR

_data_dir = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder for the devnet state, logs and the config file it writes.",
)


@click.group("devnet", cls=PocGroup)
def devnet() -> None:
    """A local anvil chain and offline IPFS node for development and demos."""


@devnet.command("up")
@_data_dir
@click.option("--chain-id", type=click.IntRange(1, 2**53 - 1), default=31337, show_default=True)
@click.option("--ipfs/--no-ipfs", default=True, help="Start the IPFS node (else: local store).")
@click.option("--deploy/--no-deploy", default=True, help="Deploy the protocol contracts.")
@click.option(
    "--block-time",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds per block; 0 mines one block per transaction (then chain time, and so"
    " challenge windows and clocks, stands still while nobody sends a transaction).",
)
@click.option(
    "--token",
    default=None,
    help="Pay the market in a token: 'mock' deploys a 6-decimal MockStablecoin (mUSD) and "
    "mints 1M to every devnet account, or an ERC-20 address (default: ether).",
)
def up_cmd(
    data_dir: Path, chain_id: int, ipfs: bool, deploy: bool, block_time: float, token: str | None
) -> None:
    """Start anvil and IPFS in the background, deploy, write <data-dir>/config.json."""
    from node.devnet import devnet as impl

    state = impl.up(
        data_dir,
        chain_id,
        with_ipfs=ipfs,
        deploy=deploy,
        block_time=block_time or None,
        token=token,
    )
    click.echo(f"anvil   {state.rpc_url} (chain {state.chain_id}, pid {state.anvil_pid})")
    if state.ipfs_api:
        click.echo(f"ipfs    {state.ipfs_api} (pid {state.ipfs_pid})")
    for name, address in state.contracts.items():
        click.echo(f"{name:<14}{address}")
    if deploy and not state.contracts:
        click.echo(
            "contracts not deployed: no shipped ABIs (run `ape compile && poc devnet export-abi`"
            " or `poc devnet export-abi --solcjs`)"
        )
    keys = impl.devnet_dir(data_dir) / "keys"
    click.echo(f"config  {state.config_path}")
    click.echo(f"keys    {keys}/{{{','.join(impl.DEV_ROLES)}}}.json (select with POC_KEYSTORE)")


@devnet.command("down")
@_data_dir
def down_cmd(data_dir: Path) -> None:
    """Stop the devnet started from this data dir and remove its state."""
    from node.devnet import devnet as impl

    stopped = impl.down(data_dir)
    click.echo(f"stopped {len(stopped)} process(es)" if stopped else "no devnet was running")


@devnet.command("status")
@_data_dir
def status_cmd(data_dir: Path) -> None:
    """Show the recorded devnet and whether its processes run."""
    from node.devnet import devnet as impl
    from node.devnet.process import pid_alive

    state = impl.read_state(data_dir)
    if state is None:
        click.echo("no devnet recorded")
        return
    alive = "running" if pid_alive(state.anvil_pid) else "stopped"
    click.echo(f"anvil   {state.rpc_url} pid {state.anvil_pid} {alive}")
    if state.ipfs_pid is not None:
        alive = "running" if pid_alive(state.ipfs_pid) else "stopped"
        click.echo(f"ipfs    {state.ipfs_api} pid {state.ipfs_pid} {alive}")


@devnet.command("export-abi")
@click.option(
    "--build-dir", type=click.Path(path_type=Path, file_okay=False), default=Path(".build")
)
@click.option(
    "--solcjs",
    is_flag=True,
    help="Compile contracts/ with tools/solc.js instead of reading ape's build.",
)
def export_abi_cmd(build_dir: Path, solcjs: bool) -> None:
    """Copy the protocol contracts' ABIs and bytecode from ape's build into node/abi/."""
    from node.chain.abi import ABI_DIR, DEVNET_CONTRACTS, PROTOCOL_CONTRACTS, export_from_build

    if solcjs:
        from node.devnet.solcjs import compile_protocol

        written = compile_protocol(ABI_DIR)
    else:
        written = export_from_build(build_dir, names=PROTOCOL_CONTRACTS + DEVNET_CONTRACTS)
    click.echo(f"exported {', '.join(written) or 'nothing'} to {ABI_DIR}")
    missing = sorted(set(PROTOCOL_CONTRACTS) - set(written))
    if missing:
        click.echo(f"not compiled: {', '.join(missing)} (run `ape compile`)")
