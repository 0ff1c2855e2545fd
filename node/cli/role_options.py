"""Options shared by the role command groups (job, provider, watch): config file, JSON output,
log format. Building services from settings happens in node.roles.context."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class Seconds(click.ParamType):
    """A duration in whole seconds, 1 to `maximum` (the contracts store durations as uint32):
    a negative or zero value is refused here, naming the option, not by the ABI encoder."""

    name = "seconds"

    def __init__(self, maximum: int = 2**32 - 1, minimum: int = 1) -> None:
        self.maximum = maximum
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        else:
            try:
                seconds = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number of seconds", param, ctx)
        if seconds < self.minimum:
            self.fail(
                f"{seconds}: a duration must be at least {self.minimum} second(s)", param, ctx
            )
        if seconds > self.maximum:
            self.fail(f"{seconds}: a duration must be at most {self.maximum} seconds", param, ctx)
        return seconds


class Amount(click.ParamType):
    """An amount of ether as `poc` reads it (node.roles.amounts: `0.5`, `0.5eth`, `3gwei`,
    `1000wei`), converted to wei; a bad one is a usage error that names the option."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from node.roles.amounts import BadAmount, parse_amount

        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return parse_amount(str(value))
        except BadAmount as exc:
            self.fail(str(exc), param, ctx)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Config file (default: POC_CONFIG or .poc/config.json).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def log_option(f: F) -> F:
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Log records as text or one JSON object a line.",
    )(f)


class PocGroup(click.Group):
    """A command group whose listing shows each command's whole first sentence, wrapped to the
    terminal, instead of click's summary cut at 45 characters or at an "e.g."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            text = cmd.short_help or (cmd.help or "").strip().split("\n\n")[0]
            rows.append((name, " ".join(text.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        move = getattr(record, "move", None)
        if move is not None:
            out["move"] = move
        return json.dumps(out, default=str)


def setup_logging(fmt: str, level: int = logging.INFO) -> None:
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
    elif not sys.stderr.isatty():
        # a file or a pipe: one record a line, never wrapped (hashes stay greppable)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    else:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, log_time_format="%H:%M:%S")
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("web3", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def settings(config_file: Path | None, **overrides: Any) -> Any:
    from node.config.settings import load_settings

    return load_settings(config_file, **{k: v for k, v in overrides.items() if v is not None})


def block_time_option(help_text: str) -> Callable[[F], F]:
    """`--block-time`: the chain's seconds per block (None: measured from recent blocks)."""
    return click.option(
        "--block-time",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help=help_text,
    )


def gas_price_option(help_text: str) -> Callable[[F], F]:
    """`--gas-price` in gwei, passed on as `gas_price_gwei` (None: the node's price)."""
    return click.option(
        "--gas-price", "gas_price_gwei", type=click.FloatRange(min=0), default=None, help=help_text
    )


def daemon_run(role: str) -> Callable[[Callable[..., dict[str, Any]]], Any]:
    """Decorates the `run` command of a daemon: adds the options every daemon shares (tick
    interval, one tick only, device, config file, log format); the decorated function turns the
    role's own options into its policy fields; the command then builds the daemon, logs its
    start line and ticks until stopped (node.roles.daemon.run_forever)."""

    def decorate(own_policy: Callable[..., dict[str, Any]]) -> Any:
        @functools.wraps(own_policy)
        def run(
            *,
            interval: float,
            once: bool,
            device: str,
            executor: str,
            ray_address: str | None,
            config_file: Path | None,
            log_format: str,
            **own: Any,
        ) -> None:
            from node.roles.daemon import run_forever
            from node.state import exclusive

            setup_logging(log_format)
            daemon = build_daemon(
                config_file, role, device=device, executor=executor, ray_address=ray_address,
                **own_policy(**own),
            )  # fmt: skip
            with exclusive(daemon.ctx.data_dir):
                logging.getLogger("node.roles").info(daemon.describe())
                run_forever(daemon.tick, interval, once)

        command: Any = run
        for option in reversed(
            [
                click.option(
                    "--interval",
                    type=click.FloatRange(min=0, min_open=True),
                    default=2.0,
                    show_default=True,
                    help="seconds per tick",
                ),
                click.option("--once", is_flag=True, help="one tick, then exit"),
                click.option(
                    "--device",
                    type=click.Choice(["auto", "cpu", "cuda"]),
                    default="auto",
                    show_default=True,
                ),
                click.option(
                    "--executor",
                    type=click.Choice(["local", "ray"]),
                    default="local",
                    show_default=True,
                    help="where jobs execute and traces answer: this process, or a Ray cluster",
                ),
                click.option(
                    "--ray-address",
                    default=None,
                    help="--executor ray: the cluster (ray://HOST:PORT or auto); default: a "
                    "Ray started by this process on this machine",
                ),
                config_option,
                log_option,
            ]
        ):
            command = option(command)
        return command

    return decorate


def build_daemon(config_file: Path | None, role: str, **policy: Any) -> Any:
    """The `role` daemon ("provider" or "watchtower") from the settings, with its policy and
    whatever the embedding program adds (role_options)."""
    from node.roles.context import RoleContext
    from node.roles.provider import Provider, ProviderPolicy
    from node.roles.watchtower import WatchPolicy, Watchtower

    cls, policy_cls, state_dir = {
        "provider": (Provider, ProviderPolicy, "provider"),
        "watchtower": (Watchtower, WatchPolicy, "watch"),
    }[role]
    ctx = RoleContext.from_settings(settings(config_file), state_dir)
    extra = role_options(role)
    make = extra.pop("factory", cls)
    return make(ctx, policy_cls(**policy), **extra)


def add_withdraw_command(group: click.Group, what: str, withdraw: Callable[[Any], int]) -> None:
    """`<group> withdraw`: pull `what` (the account's market credits) with `withdraw(config)`."""

    @group.command("withdraw", help=f"Withdraw {what}.")
    @config_option
    @json_option
    def withdraw_cmd(config_file: Path | None, as_json: bool) -> None:
        from node.readable import eth

        amount = withdraw(config_file)
        said = f"withdrew {eth(amount)} of market credits" if amount else "no credits to withdraw"
        emit({"withdrawn": amount}, as_json, [said])


def role_options(role: str) -> dict[str, Any]:
    """Extra keyword arguments for the `role` object ("provider" or "watchtower") given by the
    program that embeds the CLI (node.cli.main.main); none for `poc` itself."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    extra = (obj or {}).get("role_options", {}).get(role, {})
    return dict(extra)


def emit(obj: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(obj, indent=1, default=str))
    else:
        for line in lines:
            click.echo(line)


def timestamp(ts: int | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
