"""Every outcome as a table of formulas (docs/economics.md section 1), each formula checked
against the rule function it describes: `outcome_cases` evaluates every formula at the given
terms and raises unless it equals the settlement's amount, and unless the rows account for
every wei the settlement moves. Symbols: R reward, L requiredStake (the claim lock), B bond,
b the game's backing; `x // y` rounds down as the contracts do."""

from __future__ import annotations

from dataclasses import dataclass

from poc_lab.economics.rules import V1, V2, Game, Terms
from poc_lab.economics.settlement import EconomicsError, Pot, Reason, Settlement

# what a row says happens to a party, and how to read it off a settlement
EFFECTS = {
    "pays from its escrow": ("taken", Pot.ESCROW),
    "pays its bond": ("taken", Pot.BOND),
    "loses from its claim lock": ("taken", Pot.CLAIM_LOCK),
    "loses from the game's backing": ("taken", Pot.GAME_BACKING),
    "credited: reward": ("credit", Reason.REWARD),
    "credited: refund": ("credit", Reason.REFUND),
    "credited: bond": ("credit", Reason.BOND),
    "credited: bounty": ("credit", Reason.BOUNTY),
    "credited: compensation": ("credit", Reason.COMPENSATION),
    "stake unlocked (back to free)": ("unlocked", None),
    "burned (sent to BURN)": ("burned", None),
}


@dataclass(frozen=True)
class Row:
    party: str
    effect: str
    formula: str
    wei: int


@dataclass(frozen=True)
class Case:
    rules: str
    title: str
    when: str
    backing: str  # the backing of the example ("" when no game is involved)
    rows: tuple[Row, ...]


def _amount(s: Settlement, party: str, effect: str) -> int:
    kind, key = EFFECTS[effect]
    if kind == "taken":
        assert isinstance(key, Pot)
        return s.taken_from(party, key)
    if kind == "credit":
        assert isinstance(key, Reason)
        return s.credited(party, key)
    if kind == "unlocked":
        return s.unlocked_to(party)
    return s.burned


def _case(
    rules: str,
    title: str,
    when: str,
    s: Settlement,
    env: dict[str, int],
    spec: list[tuple[str, str, str]],
    backing: str = "",
) -> Case:
    rows = []
    for party, effect, formula in spec:
        want = eval(formula, {"__builtins__": {}}, dict(env))  # our own formulas, no builtins
        got = _amount(s, party, effect)
        if want != got:
            raise EconomicsError(
                f"{rules} {title}: {party} {effect} = {formula} is {want}, not {got}"
            )
        rows.append(Row(party, effect, formula, got))
    # the rows must account for every wei moved
    sums = {
        "taken": s.taken_total,
        "credit": s.credited_total,
        "unlocked": s.unlocked_total,
        "burned": s.burned,
    }
    for kind, total in sums.items():
        listed = sum(r.wei for r in rows if EFFECTS[r.effect][0] == kind)
        if listed != total:
            raise EconomicsError(f"{rules} {title}: rows list {listed} wei of {kind}, not {total}")
    return Case(rules, title, when, backing, tuple(rows))


def outcome_cases(t: Terms, backing: int) -> list[Case]:
    """Every outcome of both rule sets at terms `t`; games backed by `backing` (v2)."""
    env = {"R": t.reward, "L": t.stake, "B": t.bond, "b": backing}
    g = Game("provider", "challenger", t.bond, backing)
    g1 = Game("provider", "challenger", t.bond, 0)
    p, c, o = "provider", "challenger", "poster"
    b_txt = "b = min(L, provider's free stake when the game opened)"
    return [
        _case("v1, v2", "Finalized", "window closed, no game lost (`finalize`, anyone)",
              V2.finalized(t, p, o), env, [
                  (o, "pays from its escrow", "R"),
                  (p, "credited: reward", "R"),
                  (p, "loses from its claim lock", "L"),
                  (p, "stake unlocked (back to free)", "L"),
              ]),
        _case("v1, v2", "Expired",
              "execution deadline passed without a submission (`expire`, anyone; v2 also the "
              "poster's `cancel`, which then cancels too)",
              V2.expired(t, p, o), env, [
                  (p, "loses from its claim lock", "L"),
                  (o, "credited: compensation", "L * 1000 // 10000"),
                  (p, "stake unlocked (back to free)", "L - L * 1000 // 10000"),
              ]),
        _case("v1, v2", "Cancelled", "the poster, while the job is Open", V2.cancelled(t, o),
              env, [
                  (o, "pays from its escrow", "R"),
                  (o, "credited: refund", "R"),
              ]),
        _case("v2", "Game won by the provider",
              "the challenger's step fails or it times out; whatever the claim's state",
              V2.game_won_by_provider(g, False), env, [
                  (c, "pays its bond", "B"),
                  (p, "credited: bond", "B"),
                  (p, "loses from the game's backing", "b"),
                  (p, "stake unlocked (back to free)", "b"),
              ], b_txt),
        _case("v2", "Game won by the challenger, claim still Submitted (the claim is rejected)",
              "the provider's step is wrong or it times out: the claim's first lost game",
              V2.game_won_by_challenger(t, g, True), env, [
                  (c, "pays its bond", "B"),
                  (c, "credited: bond", "B"),
                  (p, "loses from the game's backing", "b"),
                  (c, "credited: bounty", "b * 5000 // 10000"),
                  (p, "loses from its claim lock", "L"),
                  ("BURN", "burned (sent to BURN)", "b - b * 5000 // 10000 + L"),
              ], b_txt),
        _case("v2", "Game won by the challenger, claim already Rejected",
              "any later game the provider loses: only the game's own money moves",
              V2.game_won_by_challenger(t, g, False), env, [
                  (c, "pays its bond", "B"),
                  (c, "credited: bond", "B"),
                  (p, "loses from the game's backing", "b"),
                  (c, "credited: bounty", "b * 5000 // 10000"),
                  ("BURN", "burned (sent to BURN)", "b - b * 5000 // 10000"),
              ], b_txt),
        _case("v2", "Rejected: output withheld",
              "the poster's `demandOutput` was not answered by `publishOutput` within `clock` "
              "(`outputTimeout`, anyone); the claim's games go on and settle as above",
              V2.rejected_withheld(t, p), env, [
                  (p, "loses from its claim lock", "L"),
                  ("BURN", "burned (sent to BURN)", "L"),
              ]),
        _case("v1", "First game won by a challenger (the claim is rejected)",
              "v1 only, for comparison", V1.game_won_by_challenger(t, g1, True), env, [
                  (c, "pays its bond", "B"),
                  (c, "credited: bond", "B"),
                  (p, "loses from its claim lock", "L"),
                  (c, "credited: bounty", "L * 5000 // 10000"),
                  ("BURN", "burned (sent to BURN)", "L - L * 5000 // 10000"),
              ]),
        _case("v1", "Any game of an already rejected claim, whoever wins",
              "v1 only, for comparison", V1.game_won_by_provider(g1, True), env, [
                  (c, "pays its bond", "B"),
                  (c, "credited: bond", "B"),
              ]),
        _case("v1", "Game won by the provider, claim Submitted", "v1 only, for comparison",
              V1.game_won_by_provider(g1, False), env, [
                  (c, "pays its bond", "B"),
                  (p, "credited: bond", "B"),
              ]),
    ]  # fmt: skip
