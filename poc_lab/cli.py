"""`poc` with an adversary in place of an honest role, for the integration tests that run the
daemons as processes:

    python -m poc_lab.cli --provider-cheat element provider run --once
    python -m poc_lab.cli --tower false-challenge watch run
    python -m poc_lab.cli --provider-output corrupt:withhold provider run
    python -m poc_lab.cli --replica copy provider run

The leading options pick the adversary; everything after them is the ordinary `poc` command
line. The roles are built through the CLI's embedding seam (node.cli.main.main(role_options)),
so the `poc` executable itself has no such option."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from poc_lab.adversary import (
    AdversaryError,
    HidingProvider,
    ProviderCheat,
    SilentProvider,
    agreeing_pick,
    lying_trace,
)
from poc_lab.replica_adversary import REPLICA_CHEATS

TOWERS = ("false-challenge", "wrong-pick")


def role_options(
    provider_cheat: str | None,
    tower: str | None,
    provider_output: str | None = None,
    replica: str | None = None,
) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    if replica:
        if provider_cheat or provider_output:
            raise AdversaryError("--replica does not combine with the other provider cheats")
        options["provider"] = {"factory": REPLICA_CHEATS[replica]}
    if provider_cheat:
        cheat = ProviderCheat.parse(provider_cheat)
        options["provider"] = {"trace_factory": lying_trace(cheat)}
        if cheat.mode == "silent":
            options["provider"]["factory"] = SilentProvider
    if provider_output:
        if "factory" in options.get("provider", {}):
            raise AdversaryError("--provider-output does not combine with a silent provider")
        blob, _, rest = provider_output.partition(":")
        if rest not in ("", "withhold"):
            raise AdversaryError(
                f"--provider-output {provider_output!r}: corrupt|missing[:withhold]"
            )
        hiding = functools.partial(HidingProvider, blob=blob, withhold=rest == "withhold")
        options.setdefault("provider", {})["factory"] = hiding
    if tower == "false-challenge":
        options["watchtower"] = {"trace_factory": lying_trace(ProviderCheat("op"))}
    elif tower == "wrong-pick":
        options["watchtower"] = {"choose": agreeing_pick}
    return options


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m poc_lab.cli", add_help=True)
    ap.add_argument("--provider-cheat", help="op | leaf | element | sum | silent [:op[:element]]")
    ap.add_argument("--tower", choices=TOWERS, help="the watchtower's misbehaviour")
    ap.add_argument(
        "--provider-output",
        help="corrupt | missing [:withhold]: the output blob it stores (and no publication)",
    )
    ap.add_argument("--replica", choices=sorted(REPLICA_CHEATS), help="the replica's misbehaviour")
    args, rest = ap.parse_known_args(argv)
    from node.cli.main import main as poc_main

    sys.argv = ["poc", *rest]
    poc_main(role_options(args.provider_cheat, args.tower, args.provider_output, args.replica))


if __name__ == "__main__":
    main()
