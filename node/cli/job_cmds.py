"""`poc job post|status|result|demand-output|output-timeout|cancel|withdraw`: the job poster's
commands (click only; the logic is node.roles.client)."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from node.cli.generation_options import (
    LLM_EXAMPLE,
    GenerationArgs,
    compiled_lines,
    generation_args,
    generation_options,
)
from node.cli.role_options import (
    Amount,
    PocGroup,
    Seconds,
    add_withdraw_command,
    block_time_option,
    config_option,
    emit,
    json_option,
    settings,
    timestamp,
)

EXAMPLES = ("tiny-mlp", "mlp-784", "digits-mlp", LLM_EXAMPLE)


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
@click.option(
    "--example",
    type=click.Choice(EXAMPLES),
    help=f"a built-in job instead of SPEC_DIR ({LLM_EXAMPLE}: a generation job, with --prompt)",
)
@generation_options
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=".npy/.safetensors input: floats for the input adapter, or the int8 data slot",
)
@click.option(
    "--reward",
    type=Amount(),
    default="0.1",
    show_default=True,
    help="escrowed reward (0.1 = 0.1 ETH)",
)
@click.option(
    "--stake",
    "required_stake",
    type=Amount(),
    default="0.5",
    show_default=True,
    help="stake the provider must lock",
)
@click.option(
    "--bond", type=Amount(), default="0.02", show_default=True, help="bond a challenger must post"
)
@click.option("--claim-within", type=Seconds(), default=86400, show_default=True, help="seconds")
@click.option("--execute-within", type=Seconds(), default=3600, show_default=True, help="seconds")
@click.option(
    "--window", type=Seconds(), default=600, show_default=True, help="challenge window, seconds"
)
@click.option(
    "--clock",
    type=Seconds(),
    default=600,
    show_default=True,
    help="chess clock per side and game, seconds",
)
@click.option(
    "--asset-price-eth",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="on a token market: ETH per whole token, to check the bond and reward against gas",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="independent providers that each run the job (2-5: a replicated job, protocol.md 6.8; "
    "the reward is split between them)",
)
@click.option(
    "--reveal-window",
    type=Seconds(),
    default=600,
    show_default=True,
    help="replicated: seconds to reveal after the commit deadline",
)
@click.option(
    "--agreement-window",
    type=Seconds(minimum=0),
    default=0,
    show_default=True,
    help="replicated: seconds watchtowers may challenge agreeing replicas (0: final at the last reveal)",
)
@click.option("--min-stake", type=Amount(), default="0", show_default=True,
              help="replicated: free stake a replica must hold to take a seat")  # fmt: skip
@click.option("--min-accepted", type=click.IntRange(min=0), default=0, show_default=True,
              help="replicated: accepted seats a replica must have on record")  # fmt: skip
@click.option(
    "--allow", multiple=True, help="replicated: only these provider addresses (repeatable)"
)
@block_time_option(
    "block time in seconds for the safety warnings (default: measured from recent blocks)"
)
@config_option
@json_option
def post_cmd(
    spec_dir: Path | None,
    example: str | None,
    hf_dir: Path | None,
    prompt: str | None,
    prompt_ids: str | None,
    max_new_tokens: int | None,
    input_path: Path | None,
    reward: int,
    required_stake: int,
    bond: int,
    claim_within: int,
    execute_within: int,
    window: int,
    clock: int,
    asset_price_eth: float | None,
    replicas: int,
    reveal_window: int,
    agreement_window: int,
    min_stake: int,
    min_accepted: int,
    allow: tuple[str, ...],
    block_time: float | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Upload a job (a `poc compile` spec dir and an input, or --example) and escrow its reward.
    A generation job is compiled here from its prompt (--example tiny-gpt or --hf DIR, with
    --prompt TEXT or --prompt-ids IDS and --max-new-tokens N), as `poc compile` would.
    Warns (stderr) about terms below the market's floors or that honest providers refuse.
    With --replicas 2-5 the job goes to the replica market (protocol.md 6.8)."""
    import tempfile

    from node.roles.client import JobTerms

    if sum(x is not None for x in (spec_dir, example, hf_dir)) != 1:
        raise click.UsageError("give exactly one of SPEC_DIR, --example or --hf")
    source = _spec_dir_words(spec_dir) if spec_dir is not None else None
    gen = generation_args(example, hf_dir, prompt, prompt_ids, max_new_tokens, source)
    if gen is not None and input_path is not None:
        raise click.UsageError("--input: a generation job's input is its prompt (--prompt)")
    terms = JobTerms(
        reward,
        required_stake,
        bond,
        claim_within,
        execute_within,
        window,
        clock,
    )
    # a generation job's spec lives in a temporary folder until it is uploaded
    with tempfile.TemporaryDirectory(prefix="poc-generation-") as tmp:
        _post(spec_dir, example, input_path, gen, Path(tmp), terms, replicas,
              (reveal_window, agreement_window, min_stake, min_accepted, allow),
              asset_price_eth, block_time, config_file, as_json)  # fmt: skip


def _spec_dir_words(spec_dir: Path) -> str:
    """How a refusal of --prompt names SPEC_DIR: a generation job's is compiled for its own
    prompt already."""
    import json

    try:
        meta = json.loads((spec_dir / "manifest.json").read_text()).get("meta") or {}
    except (OSError, ValueError, AttributeError):
        meta = {}
    if isinstance(meta, dict) and meta.get("kind") == "generation":
        return (
            f"SPEC_DIR {spec_dir}, a generation job compiled for its own prompt already "
            "(post it without --prompt)"
        )
    return f"SPEC_DIR {spec_dir}"


def _load(
    spec_dir: Path | None,
    example: str | None,
    input_path: Path | None,
    gen: GenerationArgs | None,
    tmp: Path,
    as_json: bool,
) -> tuple[Any, Any, dict[str, Any] | None]:
    """The job's spec and input (a generation job compiled into `tmp` first), and what was
    compiled (None when nothing was)."""
    from node.roles.jobs_input import load_job

    if gen is None:
        with _progress("loading the job", as_json):
            spec, data = load_job(spec_dir, example, input_path)
        return spec, data, None
    with _progress("compiling the generation program", as_json):
        rep = gen.compile(tmp)
    if not as_json:  # what is posted, before the upload
        click.echo("compiled " + "\n".join(compiled_lines(rep)))
    spec, data = load_job(tmp, None, None)
    return spec, data, {"model": rep.model, "prompt_tokens": rep.prompt_tokens,
                        "max_new_tokens": rep.max_new_tokens, "ops": rep.ops}  # fmt: skip


def _post(
    spec_dir: Path | None,
    example: str | None,
    input_path: Path | None,
    gen: GenerationArgs | None,
    tmp: Path,
    terms: Any,
    replicas: int,
    replica_terms: tuple[int, int, int, int, tuple[str, ...]],
    asset_price_eth: float | None,
    block_time: float | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    from node.roles.jobs_input import padding_note

    reveal_window, agreement_window, min_stake, min_accepted, allow = replica_terms
    spec, data, compiled = _load(spec_dir, example, input_path, gen, tmp, as_json)
    client = _client(config_file)
    asset = client.ctx.deployment.asset
    if not asset.is_ether:  # the amounts were read as ether: they are amounts of the token
        try:
            terms = dataclasses.replace(
                terms,
                reward=asset.from_ether_scale(terms.reward),
                required_stake=asset.from_ether_scale(terms.required_stake),
                challenger_bond=asset.from_ether_scale(terms.challenger_bond),
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        click.echo(
            f"note: this market pays in {asset.symbol} ({asset.address}): reward "
            f"{asset.show(terms.reward)}, stake {asset.show(terms.required_stake)}, bond "
            f"{asset.show(terms.challenger_bond)}",
            err=True,
        )
    # the rule honest providers apply (node.roles.safety): warn, the poster decides
    warnings = client.warnings(spec, terms, block_time=block_time, asset_price_eth=asset_price_eth)
    if (padded := padding_note(spec)) is not None:
        click.echo(f"note: {padded}", err=True)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if replicas > 1:
        from node.roles.replica_client import ReplicaOptions, post_replicated

        options = ReplicaOptions(replicas, reveal_window, min_stake, min_accepted, tuple(allow))
        terms = dataclasses.replace(terms, challenge_window=agreement_window)
        with _progress("uploading the package and escrowing the reward", as_json):
            job_id = post_replicated(client.ctx, spec, data, terms, options)
        emit(
            {"job_id": job_id, "replicated": True, "replicas": replicas,
             "program_root": "0x" + spec.program.root.hex(), "warnings": warnings,
             "generation": compiled},
            as_json,
            [f"posted replicated job {job_id} for {replicas} replicas "
             f"(program root 0x{spec.program.root.hex()}; `poc job status --replicated {job_id}`)"],
        )  # fmt: skip
        return
    with _progress("uploading the package and escrowing the reward", as_json):
        job_id = client.post(spec, data, terms)
    emit(
        {
            "job_id": job_id,
            "program_root": "0x" + spec.program.root.hex(),
            "warnings": warnings,
            "generation": compiled,
        },
        as_json,
        [f"posted job {job_id} (program root 0x{spec.program.root.hex()})"],
    )


def _money(st: dict[str, Any]) -> Callable[[int], str]:
    """How the status shows amounts: ETH, or the token of `st["asset"]` with its symbol."""
    from node.chain.contracts.token import Asset
    from node.readable import eth

    a = st.get("asset")
    if not a or int(a["address"], 16) == 0:
        return eth
    return Asset(a["address"], a["symbol"], int(a["decimals"])).show


def _status_lines(st: dict[str, Any]) -> list[str]:
    """The job, its terms, and every claim it has had with its games: amounts in ETH (or in the
    market's token, with its symbol), durations in words, times in UTC with their distance from
    the chain's now."""
    from node.readable import duration, when

    show = _money(st)

    now, p = st["now"], st["params"]
    lines = [
        f"job {st['job_id']}: {st['state']}, reward {show(st['reward'])}, poster {st['poster']}"
    ]
    lines.append(
        f"  terms: stake {show(p['required_stake'])}, challenger bond {show(p['challenger_bond'])}, "
        f"clock {duration(p['clock'])} per side, window {duration(p['challenge_window'])}, "
        f"execute within {duration(p['execute_within'])}"
    )
    if st["state"] == "open":
        lines.append(f"  claimable until {when(p['claim_by'], now)}")
        if st.get("reopens_at") and st["reopens_at"] > now:
            lines.append(f"  reopened: claimable again from {when(st['reopens_at'], now)}")
    if st.get("refund") is not None:
        lines.append(f"  cancelled: {show(st['refund'])} refunded to the poster")
    if not st["claims"]:
        lines.append("  no claim yet")
    for claim in st["claims"]:
        lines += _claim_lines(claim, now, show)
    return lines


def _replica_lines(st: dict[str, Any]) -> list[str]:
    """A replicated job: state, round deadlines, one line per seat."""
    now = int(st["now"])
    lines = [
        f"replicated job {st['job_id']}: {st['state']}, {st['replicas']} replicas, "
        f"reward {st['reward']} wei ({st['share']} per seat)"
    ]
    for key, label in (
        ("commit_by", "commit by"),
        ("reveal_by", "reveal by"),
        ("window_end", "window ends"),
    ):
        if st.get(key):
            lines.append(f"  {label} {timestamp(int(st[key]))} ({int(st[key]) - now:+d} s)")
    if st["pair_games_pending"]:
        lines.append(f"  {st['pair_games_pending']} pair game(s) in play")
    for s in st["seats"]:
        root = f" S_N {s['s_n'][:14]}…" if s["s_n"] else ""
        games = f", {s['watch_games']} watch game(s)" if s["watch_games"] else ""
        lines.append(f"  seat {s['seat_id']} {s['provider']}: {s['stage']}{root}{games}")
    return lines


def _claim_lines(c: dict[str, Any], now: int, show: Callable[[int], str]) -> list[str]:
    from node.readable import when

    state = c["state"]
    if state == "accepted":
        outcome = f"accepted, reward {show(c['reward'] or 0)} paid"
    elif state == "rejected":
        game = f" (game {c['lost_game']})" if c.get("lost_game") else ""
        outcome = f"rejected: {c['cause']}{game}, lock {show(c['slashed'] or 0)} slashed and burned"
    elif state == "expired":
        outcome = f"expired: {c['cause']}, {show(c['slashed'] or 0)} of the lock to the poster"
    else:
        outcome = state
    lines = [f"  claim {c['claim_id']} by {c['provider']}: {outcome}"]
    if c["submitted_at"] is None:
        verb = "executes" if state == "active" else "had to execute"
        lines.append(f"    locked {show(c['lock'])}; {verb} by {when(c['execute_deadline'], now)}")
    else:
        window = ""
        if state == "submitted":  # the window matters only while the claim can be challenged
            ends = "ends" if c["window_end"] > now else "ended"
            window = f", challenge window {ends} {when(c['window_end'], now)}"
        lines.append(
            f"    locked {show(c['lock'])}; submitted {when(c['submitted_at'], now)}{window}"
        )
        lines.append(f"    output: {_output_words(c['output'], now)}")
    for game in c["games"].values():
        lines += _game_lines(game, now, show)
    return lines


def _output_words(o: dict[str, Any], now: int) -> str:
    from node.readable import when

    if o["published"]:
        size = f" ({o['size']} bytes)" if o.get("size") is not None else ""
        asked = "demanded by the poster and " if o["demanded"] else ""
        return f"{asked}published on chain{size}"
    if o["demanded"]:
        return f"demanded by the poster, not published yet: due {when(o['due'], now)}"
    return "behind its locator (not demanded on chain)"


def _game_lines(g: dict[str, Any], now: int, show: Callable[[int], str]) -> list[str]:
    from node.readable import duration, when

    head = f"    game {g['game_id']}, challenger {g['challenger']}: "
    if g["status"] == "active":
        return [
            f"{head}active at the {g['level']} level, {g['to_move']} to move by "
            f"{when(g['deadline'], now)}",
            f"      clocks left: provider {duration(g['provider_clock'])}, challenger "
            f"{duration(g['challenger_clock'])}; bond {show(g['bond'])}, backing {show(g['backing'])}",
        ]
    how = " by timeout" if g.get("by_timeout") else ""
    if g.get("level") == "decided, to settle":  # the step decided it; settle pays (anyone)
        who = "provider" if g["status"] == "provider_won" else "challenger"
        return [
            f"{head}{who} won at the step, not settled yet",
            f"      nothing paid until someone calls settle (anyone may; the nodes do); bond "
            f"{show(g['bond'])}, backing {show(g['backing'])} still locked",
        ]
    if g["status"] == "provider_won":
        return [
            f"{head}provider won{how}",
            f"      bond {show(g['bond'])} to the provider, its backing {show(g['backing'])} unlocked",
        ]
    return [
        f"{head}challenger won{how}",
        f"      bond {show(g['bond'])} back to the challenger, bounty {show(g['bounty'] or 0)} of "
        f"the backing {show(g['backing'])}, {show(g['burned'] or 0)} burned",
    ]


@job.command("status")
@click.argument("job_id", type=int)
@click.option("--watch", is_flag=True, help="refresh until the job is finalized or cancelled")
@click.option("--interval", type=float, default=2.0, show_default=True)
@click.option("--replicated", is_flag=True, help="a job of the replica market (each seat's stage)")
@config_option
@json_option
def status_cmd(
    job_id: int,
    watch: bool,
    interval: float,
    replicated: bool,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """State of a job, its current claim and games (--replicated: its round and seats)."""
    client = _client(config_file, read_only=True)
    if replicated:
        from node.roles.replica_client import replica_status

        rs = replica_status(client.ctx, job_id)
        emit(rs, as_json, _replica_lines(rs))
        return
    st = client.status(job_id)
    if not watch:
        emit(st, as_json, _status_lines(st))
        return
    done = ("finalized", "cancelled")
    if as_json or not sys.stdout.isatty():
        # JSON: one document, at the end. Not a terminal (a pipe, a file, a CI log): a line each
        # time the status changes, so a long wait is visible and nothing is redrawn.
        shown: dict[str, Any] | None = None
        while True:
            # changed: anything but the chain's clock (the text's "in 9 min" moves with it)
            state = {k: v for k, v in st.items() if k != "now"}
            if not as_json and state != shown:
                click.echo("\n".join(_status_lines(st)), nl=True)
                shown = state
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
    help=".npy file for the (dequantized when the spec says how) output; needed unless "
    "--state-dict is given",
)
@click.option("--raw", is_flag=True, help="write the quantized integers instead")
@click.option(
    "--state-dict",
    "state_dict_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="training jobs: write the trained weights as a float PyTorch state dict (torch.save), "
    "as `poc train-weights` does",
)
@config_option
@json_option
def result_cmd(
    job_id: int,
    out: Path | None,
    raw: bool,
    state_dict_out: Path | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Download the accepted output, check it against the on-chain output root, save it. When
    the blob behind the claim's locator is missing or wrong, the output published on chain (on
    the poster's demand) is used. Before finalization it says whether the output can be had,
    and when it cannot while the window is open, to `poc job demand-output` it. For a training
    job, --state-dict writes the checked weights as a float state dict."""
    import numpy as np

    from node.compute.llm_service import decode_output
    from node.roles.jobs_input import OUTPUT_ROWS, posted_meta

    if out is None and state_dict_out is None:
        raise click.UsageError("give --out FILE.npy, --state-dict FILE.pt (training jobs) or both")
    for flag, path in (("--out", out), ("--state-dict", state_dict_out)):
        if path is not None and not path.parent.is_dir():
            raise click.UsageError(f"{flag} {path}: the folder {path.parent} does not exist")
    client = _client(config_file, read_only=True)
    if state_dict_out is not None:  # refused before the download
        _require_training(job_id, posted_meta(client.ctx, job_id))
    with _progress("downloading and checking the output", as_json):
        res = client.result(job_id)
        meta = posted_meta(client.ctx, job_id)
    rows = meta.get(OUTPUT_ROWS)
    real_rows = rows if isinstance(rows, int) and rows > 0 else None
    values = res.output if raw or res.values is None else res.values
    if real_rows is not None:  # the rest is the output of the input's padding
        values = values[:real_rows]
    if out is not None:
        np.save(out, values)
    trained: dict[str, Any] | None = None  # what --state-dict wrote, and its lines
    trained_lines: list[str] = []
    if state_dict_out is not None:
        from node.compute.training_service import save_state_dict, state_dict_lines

        trained = save_state_dict(res.output, meta, state_dict_out)
        trained_lines = state_dict_lines(trained)
    generated: list[int] | None = None
    text: str | None = None
    if meta.get("kind") == "generation":  # token ids [N, 32], the id in column 0
        generated = [int(v) for v in np.asarray(res.output)[:, 0]]
        text = decode_output(meta, generated)
    emit(
        {
            "job_id": job_id,
            "out": None if out is None else str(out),
            "shape": list(values.shape),
            "output_root": "0x" + res.output_root.hex(),
            "verified": True,
            "source": res.source,
            "note": res.note,
            "generated_ids": generated,
            "generated_text": text,
            "state_dict": trained,
        },
        as_json,
        [
            f"output of job {job_id} verified against 0x{res.output_root.hex()}",
            *(
                [f"  read from the chain (published on demand): {res.note}"]
                if res.source == "chain"
                else []
            ),
            *(
                [f"  kept the first {real_rows} rows, your items' (the padding's are left out)"]
                if real_rows is not None
                else []
            ),
            *([f"wrote {out} {list(values.shape)}"] if out is not None else []),
            *trained_lines,
            *([f"generated ids {generated}"] if generated is not None else []),
            *([f"generated text {text!r}"] if text is not None else []),
        ],
    )


def _require_training(job_id: int, meta: dict[str, Any]) -> None:
    """Refuse --state-dict on a job whose posted spec is not a training job's, naming its kind."""
    from node.compute.training_service import is_training

    if not is_training(meta):
        kind = meta.get("kind") or "inference"
        raise click.UsageError(
            f"--state-dict: job {job_id} is not a training job (kind: {kind}; its posted spec "
            "has no training metadata); use --out for its output"
        )


@job.command("demand-output")
@click.argument("job_id", type=int)
@config_option
@json_option
def demand_output_cmd(job_id: int, config_file: Path | None, as_json: bool) -> None:
    """Demand that the provider publish the output of the job's submitted result on chain
    (poster only, free, once, within the challenge window): use it when `poc job result` says
    the output behind the claim's locator is missing or wrong. The provider must publish within
    one clock; if it does not, `poc job output-timeout` rejects its claim."""
    due = _client(config_file).demand_output(job_id)
    emit(
        {"job_id": job_id, "demanded": True, "due": due},
        as_json,
        [
            f"demanded the output of job {job_id}: the provider must publish it by chain "
            f"time {due} ({timestamp(due)})",
            f"then `poc job result {job_id}` reads it from the chain; if it is not published "
            f"by then, `poc job output-timeout {job_id}`",
        ],
    )


@job.command("output-timeout")
@click.argument("job_id", type=int)
@config_option
@json_option
def output_timeout_cmd(job_id: int, config_file: Path | None, as_json: bool) -> None:
    """Reject the job's claim whose demanded output was not published in time (anyone may):
    the provider's lock is burned and the job reopens; `poc job cancel` then refunds you."""
    claim_id = _client(config_file).output_timeout(job_id)
    emit(
        {"job_id": job_id, "claim_id": claim_id, "rejected": True},
        as_json,
        [
            f"claim {claim_id} of job {job_id} rejected: its output was not published in time",
            f"the job is open again; `poc job cancel {job_id}` and `poc job withdraw` refund "
            "the escrow",
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
