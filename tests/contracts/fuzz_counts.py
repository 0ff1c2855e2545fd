"""Records how many examples the contract property campaigns ran (POC_FUZZ=1 only) in
docs/fuzz-contracts.md, one marked section per campaign."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from poc_lab.bench.report import write_section

DOC = Path(__file__).resolve().parents[2] / "docs" / "fuzz-contracts.md"
HEADER = """# Contract fuzz campaigns

Written by `make fuzz` (`POC_FUZZ=1 ape test tests -m slow` and the property tests of
`tests/contracts/` with raised example counts). Each section is rewritten by its own campaign.
The game campaign plays whole games on the embedded chain. The stateful campaign runs random
sequences of market actions on anvil (one worker process and one anvil per CPU, see
docs/contracts.md); in it, challengers play honestly or at random against honest or lying
providers, every mover may let its clock run out, and the attacker of issue 11 acts: a lying
provider contract that submits and has 0-2 of its puppets challenge in the same transaction (F1),
a griefer's expire + claim in one transaction (F4, must revert), output demands, good and bad
publications and output timeouts (P6), the poster's cancel of an Active claim past its deadline.
After every action a ledger of every account's credits and free stake and the total burned,
computed by the payout rules (protocol.md 6.5), must equal the chain: "P1" counts settled games
won by the challenger (each paid its bond plus half the game's own backing), "P2" rejected claims
whose provider side (its puppets included) lost at least the lock. "moves refused or reverted" are moves the
contracts refused as they should (mostly a random challenger whose picked segment starts at a
state it does not hold, so its `step` fails `OpCommitMismatch` and it loses on time). "games
decided by the step" ended by a move rather than a clock; each went to the truthful side (an
honest provider, or the honest challenger of a lying one), or the campaign would have failed.
"games ended" and "claims ended" count the outcomes once everything was ended at the close of a
sequence. Every sequence ended solvent with no wei left behind.
"""


def record(name: str, counts: dict[str, int]) -> None:
    if os.environ.get("POC_FUZZ") != "1" or not counts:
        return
    if not DOC.exists():
        DOC.write_text(HEADER)
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items()))
    write_section(name, f"## {name} ({when})\n\n| what | count |\n|---|---|\n{rows}", DOC)
