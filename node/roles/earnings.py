"""What a daemon's account earned, lost and spent, kept in its state database (the `ledger`
table) over the node's whole life: the daemons withdraw their credits as they come, so the
market's credit balance says nothing of what was earned.

Entries come from two places: the market events the daemon scans (a finalized job's reward, a
game's bond and bounty, a slashed claim lock or game backing, a withdrawal; on the JobMarket
and, where one is deployed, the ReplicaMarket: a seat's share, a slashed seat lock, a pair or
watch game's bond, backing or bounty, a withdrawal) and the outcome of
every transaction the account sends (its gas, node.chain.sender). Each entry is keyed by what
caused it (an event's transaction and log index, a transaction hash), so a range scanned again
after a crash, or a resumed transaction, is recorded once. Each is attributed to its job, claim
and game where the chain says which; `summary` adds them up over the node's life, per job, per
claim and per game. Amounts are wei."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from node.chain.contracts.replica_market import ReplicaMarketContract
from node.chain.contracts.token import ETHER, ETHER_ADDRESS, Asset
from node.chain.scanner import ChainEvent
from node.chain.sender import TX_REFUSED, TxOutcome
from node.readable import in_asset
from node.roles.context import RoleContext

log = logging.getLogger(__name__)


class Kind(StrEnum):
    REWARD = "reward"  # earned: the reward of a job we finalized
    BOND_WON = "bond_won"  # earned: a challenger's bond, we won its game as the provider
    BOUNTY = "bounty"  # earned: our share of a game's backing, we won it as the challenger
    SLASHED = "slashed"  # lost: our claim's lock (rejected: all of it; expired: the poster's share)
    BACKING_LOST = "backing_lost"  # lost: a game's backing, we lost the game as the provider
    BOND_LOST = "bond_lost"  # lost: our bond, the provider won the game we opened
    GAS = "gas"  # spent: the gas of a transaction we sent (mined, or mined and reverted)
    WITHDRAWN = "withdrawn"  # market credits paid out to the account (not a gain or a loss)


EARNED = (Kind.REWARD, Kind.BOND_WON, Kind.BOUNTY)
LOST = (Kind.SLASHED, Kind.BACKING_LOST, Kind.BOND_LOST)

# intent key prefixes (the bindings' transaction builders) -> what their numbers are
_KEY_IDS: dict[str, tuple[str, ...]] = {
    "claim": ("job_id",),
    "submit": ("job_id", "claim_id"),
    "finalize": ("job_id", "claim_id"),
    "expire": ("job_id", "claim_id"),
    "demand": ("job_id", "claim_id"),
    "publish": ("job_id", "claim_id"),
    "output-timeout": ("job_id", "claim_id"),
    "challenge": ("claim_id",),
    "game": ("game_id",),
}


@dataclass(frozen=True)
class Entry:
    kind: Kind
    amount: int  # base units of `asset`, never negative: the kind says which way it went
    job_id: int | None = None
    claim_id: int | None = None
    game_id: int | None = None
    block: int | None = None
    tx: str | None = None
    what: str | None = None  # for gas: the function called
    # the asset's address, lower case (ETHER_ADDRESS: ether); None only before it is recorded
    asset: str | None = None

    def data(self) -> dict[str, Any]:
        return {k: (str(v) if k == "kind" else v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def of(cls, data: dict[str, Any], market_asset: str = ETHER_ADDRESS) -> Entry:
        """An entry as stored; one recorded before assets were kept is in `market_asset`
        (gas: ether)."""
        kind = Kind(data["kind"])
        default = ETHER_ADDRESS if kind == Kind.GAS else market_asset
        return cls(**{**data, "kind": kind, "asset": str(data.get("asset") or default).lower()})


EntryObserver = Callable[[Entry], None]


def ids_of_key(key: str | None) -> dict[str, int]:
    """The job, claim or game an intent key names (`submit:7:3` -> job 7, claim 3)."""
    if not key:
        return {}
    head, *rest = key.split(":")
    names = _KEY_IDS.get(head, ())
    out = {}
    for name, value in zip(names, rest, strict=False):
        if value.isdigit():
            out[name] = int(value)
    return out


class Ledger:
    """The account's ledger in the state database; `on_event` and `on_tx` record into it
    (the daemon feeds them), `summary` reads it."""

    def __init__(self, ctx: RoleContext, observers: Iterable[EntryObserver] = ()) -> None:
        self.ctx = ctx
        self.me = ctx.address.lower()
        self.observers = list(observers)
        self._claims: dict[int, tuple[str, int]] = {}  # claim id -> (provider, job id)
        self._challengers: dict[int, str] = {}  # game id -> challenger

    @property
    def market_asset(self) -> Asset:
        """What the market pays in (read once per deployment: immutable)."""
        return self.ctx.deployment.asset

    def _show(self, amount: int, sign: bool = False) -> str:
        a = self.market_asset
        return in_asset(amount, a.symbol, a.decimals, sign)

    def assets(self) -> dict[str, Asset]:
        """The assets the ledger can hold, by lower-case address: ether (gas) and the market's."""
        return {a.address.lower(): a for a in (ETHER, self.market_asset)}

    # ---- whose is it ----

    def claim_of(self, claim_id: int) -> tuple[str, int]:
        """(provider, job id) of a claim (immutable once made: read once)."""
        if claim_id not in self._claims:
            claim = self.ctx.deployment.market.claim(claim_id)
            self._claims[claim_id] = (claim.provider.lower(), claim.job_id)
        return self._claims[claim_id]

    def challenger_of(self, game_id: int) -> str:
        if game_id not in self._challengers:
            self._challengers[game_id] = self.ctx.deployment.market.challenger_of(game_id).lower()
        return self._challengers[game_id]

    def ours(self, event: ChainEvent) -> bool:
        """Whether a market event is about our account: our claim (as its provider), our game
        (as its challenger), or our credits."""
        a = event.args
        if "provider" in a:
            return str(a["provider"]).lower() == self.me
        if "account" in a:
            return str(a["account"]).lower() == self.me
        if event.name == "ClaimRejected":
            return self.claim_of(int(a["claimId"]))[0] == self.me
        if event.name == "GameSettled":
            return (
                self.claim_of(int(a["claimId"]))[0] == self.me
                or self.challenger_of(int(a["gameId"])) == self.me
            )
        return False

    # ---- recording ----

    def on_event(self, event: ChainEvent) -> list[Entry]:
        """Record what a scanned market event paid or took from us, and say so in the log (once:
        an event handled again records and says nothing); returns the new entries."""
        key = f"{event.tx_hash}:{event.log_index}"
        recorded = []
        asset = self.market_asset.address.lower()
        for n, (entry, level, message) in enumerate(self._entries_of(event)):
            entry = replace(entry, asset=asset)
            if self._record(f"{key}:{n}" if n else key, entry):
                log.log(level, "%s", message)
                recorded.append(entry)
        return recorded

    def _entries_of(self, event: ChainEvent) -> list[tuple[Entry, int, str]]:
        """(entry, log level, log line) for each payment the event made to or took from us."""
        a, name = event.args, event.name
        at: dict[str, Any] = {"block": event.block_number, "tx": event.tx_hash}
        if name == "JobFinalized" and str(a["provider"]).lower() == self.me:
            job, claim, reward = int(a["jobId"]), int(a["claimId"]), int(a["reward"])
            said = f"job {job} finalized (claim {claim}): reward {self._show(reward, True)}"
            return [(Entry(Kind.REWARD, reward, job, claim, **at), logging.INFO, said)]
        if name == "ClaimExpired" and str(a["provider"]).lower() == self.me:
            job, claim, slashed = int(a["jobId"]), int(a["claimId"]), int(a["slashed"])
            said = (
                f"claim {claim} (job {job}) expired, execution deadline missed: "
                f"{self._show(-slashed, True)} of the lock to the poster"
            )
            return [(Entry(Kind.SLASHED, slashed, job, claim, **at), logging.WARNING, said)]
        if name == "ClaimRejected" and self.claim_of(int(a["claimId"]))[0] == self.me:
            job, claim, game = int(a["jobId"]), int(a["claimId"]), int(a["gameId"])
            slashed = int(a["slashed"])
            cause = f"game {game} lost" if game else "output withheld (not published on demand)"
            said = (
                f"claim {claim} (job {job}) rejected, {cause}: lock {self._show(-slashed, True)} "
                "slashed and burned"
            )
            # the claim's money, not the game's: the game that cost it is in the log line
            entry = Entry(Kind.SLASHED, slashed, job, claim, **at)
            return [(entry, logging.WARNING, said)]
        if name == "GameSettled":
            return self._settled(a, at)
        if name == "Withdrawn" and str(a["account"]).lower() == self.me:
            amount = int(a["amount"])
            said = f"withdrew {self._show(amount)} of market credits to {self.ctx.address}"
            return [(Entry(Kind.WITHDRAWN, amount, **at), logging.INFO, said)]
        return []

    def _settled(self, a: dict[str, Any], at: dict[str, Any]) -> list[tuple[Entry, int, str]]:
        """A game's settlement, for us as its claim's provider and/or as its challenger."""
        game, claim = int(a["gameId"]), int(a["claimId"])
        provider, job = self.claim_of(claim)
        won_by_provider = bool(a["providerWon"])
        bond, backing, bounty = int(a["bond"]), int(a["backing"]), int(a["bounty"])
        where = f"game {game} (claim {claim}, job {job})"
        ids: dict[str, Any] = {"job_id": job, "claim_id": claim, "game_id": game, **at}
        out = []
        if provider == self.me and won_by_provider:
            said = (
                f"{where} won as the provider: {self._show(bond, True)} (the challenger's bond); "
                f"backing {self._show(backing)} unlocked"
            )
            out.append((Entry(Kind.BOND_WON, bond, **ids), logging.INFO, said))
        elif provider == self.me:
            said = (
                f"{where} lost as the provider: backing {self._show(-backing, True)} ({self._show(bounty)} "
                f"bounty to the challenger, {self._show(int(a['burned']))} burned)"
            )
            out.append((Entry(Kind.BACKING_LOST, backing, **ids), logging.WARNING, said))
        if self.challenger_of(game) == self.me and won_by_provider:
            said = f"{where} lost as the challenger: bond {self._show(-bond, True)} to the provider"
            out.append((Entry(Kind.BOND_LOST, bond, **ids), logging.WARNING, said))
        elif self.challenger_of(game) == self.me:
            said = f"{where} won as the challenger: bond {self._show(bond)} back, bounty {self._show(bounty, True)}"
            out.append((Entry(Kind.BOUNTY, bounty, **ids), logging.INFO, said))
        return out

    # ---- the ReplicaMarket (protocol.md §6.8) ----
    # Its job, seat and game ids are its own (not JobMarket's), so its entries carry none of
    # the record ids: they count in the totals, and `what` names the replica job and seat.

    def on_replica_event(self, event: ChainEvent) -> list[Entry]:
        """Record what a scanned ReplicaMarket event paid or took from us (a seat's share, a
        slashed seat lock, a pair or watch game's bond, backing or bounty, a withdrawal);
        keyed by the event's transaction and log index as `on_event`'s."""
        key = f"{event.tx_hash}:{event.log_index}"
        asset = self.market_asset.address.lower()
        recorded = []
        for entry, level, message in self._replica_entries_of(event):
            entry = replace(entry, asset=asset, block=event.block_number, tx=event.tx_hash)
            if self._record(key, entry):
                log.log(level, "%s", message)
                recorded.append(entry)
        return recorded

    def _replica_entries_of(self, event: ChainEvent) -> list[tuple[Entry, int, str]]:
        a, name, show = event.args, event.name, self._show
        replicas = self.ctx.deployment.replicas
        if name == "SeatAccepted" and str(a["provider"]).lower() == self.me:
            job, seat, share = int(a["jobId"]), int(a["seatId"]), int(a["share"])
            what = f"replica job {job} seat {seat}"
            said = f"{what} accepted: share {show(share, True)}"
            return [(Entry(Kind.REWARD, share, what=what), logging.INFO, said)]
        if name == "SeatExpired" and str(a["provider"]).lower() == self.me:
            job, seat, slashed = int(a["jobId"]), int(a["seatId"]), int(a["slashed"])
            what = f"replica job {job} seat {seat}"
            said = f"{what} expired: lock {show(-slashed, True)} slashed"
            return [(Entry(Kind.SLASHED, slashed, what=what), logging.WARNING, said)]
        if name == "SeatRejected" and replicas is not None:
            seat = int(a["seatId"])
            if replicas.seat(seat).provider.lower() != self.me:
                return []
            job, game, slashed = int(a["jobId"]), int(a["gameId"]), int(a["slashed"])
            what = f"replica job {job} seat {seat}"
            said = (
                f"{what} rejected (replica game {game} lost): lock {show(-slashed, True)} slashed"
            )
            return [(Entry(Kind.SLASHED, slashed, what=what), logging.WARNING, said)]
        if name == "GameSettled" and replicas is not None:
            return self._replica_settled(a, replicas)
        if name == "Withdrawn" and str(a["account"]).lower() == self.me:
            amount = int(a["amount"])
            said = f"withdrew {show(amount)} of replica market credits to {self.ctx.address}"
            return [(Entry(Kind.WITHDRAWN, amount, what="replica market"), logging.INFO, said)]
        return []

    def _replica_settled(
        self, a: dict[str, Any], replicas: ReplicaMarketContract
    ) -> list[tuple[Entry, int, str]]:
        """A replica game's settlement. A pair game (no bond) pays its winner a bounty out of
        the loser's lock (the loss is that seat's SeatRejected); a watch game pays the seat's
        provider the watcher's bond, or the watcher a bounty out of the game's backing."""
        game, seat = int(a["gameId"]), int(a["seatId"])
        bond, backing, bounty = int(a["bond"]), int(a["backing"]), int(a["bounty"])
        won, by_seat = str(a["winner"]).lower() == self.me, bool(a["providerWon"])
        what = f"replica game {game} (seat {seat})"
        show = self._show
        if bond == 0:  # a pair game
            if won and bounty:
                said = f"{what} won: bounty {show(bounty, True)}"
                return [(Entry(Kind.BOUNTY, bounty, what=what), logging.INFO, said)]
            return []
        if won and by_seat:
            said = f"{what} won as the seat's provider: {show(bond, True)} (the watcher's bond)"
            return [(Entry(Kind.BOND_WON, bond, what=what), logging.INFO, said)]
        if won:
            said = f"{what} won as the watcher: bond {show(bond)} back, bounty {show(bounty, True)}"
            return [(Entry(Kind.BOUNTY, bounty, what=what), logging.INFO, said)]
        if by_seat and replicas.game_book(game).watcher.lower() == self.me:
            said = f"{what} lost as the watcher: bond {show(-bond, True)} to the seat's provider"
            return [(Entry(Kind.BOND_LOST, bond, what=what), logging.WARNING, said)]
        if not by_seat and replicas.seat(seat).provider.lower() == self.me:
            said = f"{what} lost as the seat's provider: backing {show(-backing, True)}"
            return [(Entry(Kind.BACKING_LOST, backing, what=what), logging.WARNING, said)]
        return []

    def on_tx(self, outcome: TxOutcome) -> None:
        """The gas of a transaction we sent (refused ones cost nothing)."""
        if (
            outcome.status == TX_REFUSED
            or outcome.tx_hash is None
            or outcome.sender.lower() != self.me
        ):
            return
        ids = ids_of_key(outcome.request.key)
        entry = Entry(
            Kind.GAS,
            outcome.fee,
            block=outcome.block,
            tx=outcome.tx_hash,
            what=outcome.request.description or None,
            asset=ETHER_ADDRESS,  # gas is paid in ether, whatever the market's asset
            **ids,
        )
        self._record(f"gas:{outcome.tx_hash}", entry)

    def _record(self, key: str, entry: Entry) -> bool:
        if not self.ctx.state.add_ledger_entry(key, entry.data()):
            return False  # recorded before (a range scanned again, a resumed transaction)
        for observe in self.observers:
            try:
                observe(entry)
            except Exception:
                log.exception("ledger observer failed")
        return True

    # ---- reading ----

    def entries(self) -> list[Entry]:
        rows = self.ctx.state.ledger_entries().values()
        if not rows:
            return []
        market = self.market_asset.address.lower()
        return [Entry.of(d, market) for d in rows]

    def summary(self) -> dict[str, Any]:
        """Totals over the node's life, and per job, claim and game, each per asset: `assets`
        names the assets (address -> symbol, decimals), `totals` maps an asset's address to
        its sums, and `jobs`, `claims`, `games` map an id to the same. A sums has every kind
        and `earned`, `lost`, `gas`, `net` (earned - lost - gas, all in that asset: gas is on
        the ether side only) and `transactions`; `game_ids` says each game's job and claim. A
        gas entry that names only its game is counted to the game's claim and job as the state
        database's games table records them."""
        games = {g["game_id"]: g for g in self.ctx.state.games()}
        where: dict[int, dict[str, int]] = {}  # game id -> its job and claim ids
        total: dict[str, _Sums] = defaultdict(_Sums)
        by: dict[str, dict[int, dict[str, _Sums]]] = {
            name: defaultdict(lambda: defaultdict(_Sums)) for name in ("jobs", "claims", "games")
        }
        entries = self.entries()
        for e in entries:
            job, claim, asset = e.job_id, e.claim_id, e.asset or ETHER_ADDRESS
            if e.game_id is not None and e.game_id in games:
                job = job if job is not None else games[e.game_id]["job_id"]
                claim = claim if claim is not None else games[e.game_id]["claim_id"]
            total[asset].add(e)
            for name, key in (("jobs", job), ("claims", claim), ("games", e.game_id)):
                if key is not None:
                    by[name][int(key)][asset].add(e)
            if e.game_id is not None:
                ids = {"job_id": job, "claim_id": claim}
                where.setdefault(e.game_id, {}).update({k: v for k, v in ids.items() if v})
        known = self.assets() if entries else {ETHER_ADDRESS: ETHER}
        out: dict[str, Any] = {
            "assets": {
                # an asset neither ether nor the market's (none today) shows in base units
                a: {"symbol": known[a].symbol, "decimals": known[a].decimals}
                if a in known
                else {"symbol": f"units of {a}", "decimals": 0}
                for a in sorted(set(total) | {ETHER_ADDRESS})
            },
            "totals": {a: s.as_json() for a, s in sorted(total.items())},
        }
        for name, records in by.items():
            out[name] = {
                k: {a: s.as_json() for a, s in sorted(per.items())}
                for k, per in sorted(records.items())
            }
        out["game_ids"] = {g: where[g] for g in sorted(where)}
        return out


class _Sums:
    def __init__(self) -> None:
        self.kinds: dict[Kind, int] = defaultdict(int)
        self.transactions = 0

    def add(self, e: Entry) -> None:
        self.kinds[e.kind] += e.amount
        self.transactions += e.kind == Kind.GAS

    def as_json(self) -> dict[str, int]:
        earned = sum(self.kinds[k] for k in EARNED)
        lost = sum(self.kinds[k] for k in LOST)
        gas = self.kinds[Kind.GAS]
        out = {str(k): v for k, v in self.kinds.items() if v and k != Kind.GAS}
        return {
            **out,
            "earned": earned,
            "lost": lost,
            "gas": gas,
            "net": earned - lost - gas,
            "transactions": self.transactions,
        }
