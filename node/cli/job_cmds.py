"""`poc job post|status|result|cancel|withdraw`: the job poster's commands (click only;
the logic is node.roles.client)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from node.cli.role_options import (
    PocGroup,
    add_withdraw_command,
    block_time_option,
    config_option,
    emit,
    json_option,
    settings,
    timestamp,
)

EXAMPLES = ("tiny-mlp", "mlp-784", "digits-mlp")


def _progress(what: str, quiet: bool) -> Any:
    """A Rich spinner on stderr for a long step (nothing with --json)."""
    from contextlib import nullcontext

    if quiet:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(what)


def _client(config_file: Path | None, read_only: bool = False) -> Any:
    from node.roles.client import JobClient
    from node.roles.context import RoleContext

    return JobClient(RoleContext.from_settings(settings(config_file), "poster", read_only))


@click.group("job", cls=PocGroup)
def job() -> None:
    """Post a job, follow it, fetch its checked result."""


@job.command("post")
@click.argument(
    "spec_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--example", type=click.Choice(EXAMPLES), help="a built-in job instead of SPEC_DIR")
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=".npy/.safetensors input: floats for the input adapter, or the int8 data slot",
)
@click.option("--reward", default="0.1", show_default=True, help="escrowed reward (0.1 = 0.1 ETH)")
@click.option(
    "--stake",
    "required_stake",
    default="0.5",
    show_default=True,
    help="stake the provider must lock",
)
@click.option("--bond", default="0.02", show_default=True, help="bond a challenger must post")
@click.option("--claim-within", type=int, default=86400, show_default=True, help="seconds")
@click.option("--execute-within", type=int, default=3600, show_default=True, help="seconds")
@click.option(
    "--window", type=int, default=600, show_default=True, help="challenge window, seconds"
)
@click.option(
    "--clock",
    type=int,
    default=600,
    show_default=True,
    help="chess clock per side and game, seconds",
)
@block_time_option(
    "block time in seconds for the safety warnings (default: measured from recent blocks)"
)
@config_option
@json_option
def post_cmd(
    spec_dir: Path | None,
    example: str | None,
    input_path: Path | None,
    reward: str,
    required_stake: str,
    bond: str,
    claim_within: int,
    execute_within: int,
    window: int,
    clock: int,
    block_time: float | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Upload a job (a `poc compile` spec dir and an input, or --example) and escrow its reward.
    Warns (stderr) about terms below the market's floors or that honest providers refuse."""
    from node.roles.amounts import parse_amount
    from node.roles.client import JobTerms
    from node.roles.jobs_input import load_job

    if (spec_dir is None) == (example is None):
        raise click.UsageError("give exactly one of SPEC_DIR or --example")
    terms = JobTerms(
        parse_amount(reward),
        parse_amount(required_stake),
        parse_amount(bond),
        claim_within,
        execute_within,
        window,
        clock,
    )
    with _progress("loading the job", as_json):
        spec, data = load_job(spec_dir, example, input_path)
    client = _client(config_file)
    # the rule honest providers apply (node.roles.safety): warn, the poster decides
    warnings = client.warnings(spec, terms, block_time=block_time)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    with _progress("uploading the package and escrowing the reward", as_json):
        job_id = client.post(spec, data, terms)
    emit(
        {"job_id": job_id, "program_root": "0x" + spec.program.root.hex(), "warnings": warnings},
        as_json,
        [f"posted job {job_id} (program root 0x{spec.program.root.hex()})"],
    )


def _status_lines(st: dict[str, Any]) -> list[str]:
    lines = [f"job {st['job_id']}: {st['state']}, reward {st['reward']} wei"]
    claim = st.get("claim")
    if claim:
        lines.append(
            f"  claim {claim['claim_id']} by {claim['provider']}: {claim['state']}, "
            f"window ends {timestamp(claim['window_end'])}"
        )
        for g, s in claim["games"].items():
            where = f", {s['level']}, {s['to_move']} to move" if s["to_move"] else ""
            lines.append(f"  game {g}: {s['status']}{where}")
    return lines


@job.command("status")
@click.argument("job_id", type=int)
@click.option("--watch", is_flag=True, help="refresh until the job is finalized or cancelled")
@click.option("--interval", type=float, default=2.0, show_default=True)
@config_option
@json_option
def status_cmd(
    job_id: int, watch: bool, interval: float, config_file: Path | None, as_json: bool
) -> None:
    """State of a job, its current claim and games."""
    client = _client(config_file, read_only=True)
    st = client.status(job_id)
    if not watch:
        emit(st, as_json, _status_lines(st))
        return
    done = ("finalized", "cancelled")
    if as_json or not sys.stdout.isatty():
        # JSON: one document, at the end. Not a terminal (a pipe, a file, a CI log): a line each
        # time the status changes, so a long wait is visible and nothing is redrawn.
        shown: list[str] = []
        while True:
            lines = _status_lines(st)
            if not as_json and lines != shown:
                click.echo("\n".join(lines), nl=True)
                shown = lines
            if st["state"] in done:
                break
            time.sleep(interval)
            st = client.status(job_id)
        if as_json:
            emit(st, as_json, [])
        return
    from rich.console import Console
    from rich.live import Live

    with Live(console=Console(), refresh_per_second=4, transient=True) as live:
        while True:
            live.update("\n".join(_status_lines(st)))
            if st["state"] in done:
                break
            time.sleep(interval)
            st = client.status(job_id)
    emit(st, as_json, _status_lines(st))


@job.command("result")
@click.argument("job_id", type=int)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help=".npy file for the (dequantized when the spec says how) output",
)
@click.option("--raw", is_flag=True, help="write the quantized integers instead")
@config_option
@json_option
def result_cmd(job_id: int, out: Path, raw: bool, config_file: Path | None, as_json: bool) -> None:
    """Download the accepted output, check it against the on-chain output root, save it."""
    import numpy as np

    if not out.parent.is_dir():
        raise click.UsageError(f"--out {out}: the folder {out.parent} does not exist")
    client = _client(config_file, read_only=True)
    with _progress("downloading and checking the output", as_json):
        res = client.result(job_id)
    values = res.output if raw or res.values is None else res.values
    np.save(out, values)
    emit(
        {
            "job_id": job_id,
            "out": str(out),
            "shape": list(values.shape),
            "output_root": "0x" + res.output_root.hex(),
            "verified": True,
        },
        as_json,
        [
            f"output of job {job_id} verified against 0x{res.output_root.hex()}",
            f"wrote {out} {list(values.shape)}",
        ],
    )


@job.command("cancel")
@click.argument("job_id", type=int)
@config_option
@json_option
def cancel_cmd(job_id: int, config_file: Path | None, as_json: bool) -> None:
    """Cancel an open job; its escrow becomes a credit (`poc job withdraw`)."""
    _client(config_file).cancel(job_id)
    emit({"job_id": job_id, "cancelled": True}, as_json, [f"cancelled job {job_id}"])


add_withdraw_command(
    job,
    "the poster's credits (refunds, compensation)",
    lambda config_file: _client(config_file).withdraw(),
)
