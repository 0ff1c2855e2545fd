"""A contract's custom error as a sentence an operator can act on: the `poc job post` option a
ParamOutOfRange names, job, claim and game states by name, amounts in ETH, chain times as UTC
with how far they are from the chain's now ("in 5 min", "3 min ago").

One entry per custom error of contracts/lib/Errors.sol (tests/node/test_revert_text.py fails
when an error of the shipped ABIs has none). `action` is the contract function that reverted
(TxRequest.description), for the errors whose advice depends on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from node.chain.contracts.errors import (
    NOT_ELIGIBLE,
    OP_FIELD,
    OPENED_OPERAND,
    OPERAND,
    PARAM,
    PROOF,
    SEAT_STATES,
    SPEC_FIELD,
    ContractError,
)
from node.readable import duration, utc, when
from node.readable import eth as _readable_eth

Args = Mapping[str, Any]
E = ContractError


def _dtype(code: int) -> str:
    """A spec leaf's dtype byte (its item size) as a name."""
    return {1: "int8", 4: "int32"}.get(code, f"dtype {code}")


# ParamOutOfRange.param -> the `poc job post` option that sets it (JobMarket.P_*); the
# parameters with no option come from the compiled program.
POST_OPTION: Mapping[int, str] = {
    0: "--reward",
    1: "--window",
    2: "--clock",
    3: "--execute-within",
    6: "--bond",
    7: "--claim-within",
    9: "--stake",
}
_PROGRAM_PARAM: Mapping[int, str] = {
    4: "the program's slot count (inputs + ops)",
    5: "the program's output slot",
    8: "the program's op count",
}
_DURATION_PARAMS = frozenset({1, 2, 3})
_AMOUNT_PARAMS = frozenset({0, 6, 9})
_CLAIM_BY = 7

# Errors whose meaning has its own row in the exit-code table (docs/operator.md section 7);
# every other revert exits with TransactionReverted's code (9).
EXIT_CODES: Mapping[str, int] = {E.INSUFFICIENT_STAKE: 15, E.JOB_NOT_FOUND: 16}

# Panic(uint256) codes of Solidity 0.8
_PANIC = {
    0x01: "an assertion failed",
    0x11: "an arithmetic overflow or underflow",
    0x12: "a division by zero",
    0x21: "an invalid enum value",
    0x31: "a pop from an empty array",
    0x32: "an array index out of bounds",
    0x41: "too much memory allocated",
    0x51: "a call to an uninitialised function",
}

_LAST_DATE = 253402300799  # 9999-12-31 23:59:59 UTC
_GAME_LOCK_BASE = 2**128  # JobMarket.GAME_LOCK_BASE: a game's backing is locked under this + id


def sentence(name: str, args: Args, action: str = "", now: int | None = None) -> str | None:
    """The error as a sentence (no final period), or None for a name this module does not
    know (a revert without data, a synthetic name of the sender). `now` is the chain's time,
    for relative times; the error's own `nowTs` is used when it carries one."""
    explain = _SENTENCES.get(name)
    if explain is None:
        return None
    if now is None and isinstance(args.get("nowTs"), int):
        now = int(args["nowTs"])
    try:
        return explain(args, _Ctx(action, now))
    except (KeyError, TypeError, ValueError):
        return None  # arguments that did not decode: the raw form says what is known


def exit_code(name: str, default: int) -> int:
    return EXIT_CODES.get(name, default)


class _Ctx:
    def __init__(self, action: str, now: int | None) -> None:
        self.action = action
        self.now = now

    def at(self, ts: int, now: int | None = None) -> str:
        """`2025-01-01 10:00:00 UTC (in 5 min)`, without the distance when now is unknown;
        a time past the calendar's end (year 9999) as the chain's number."""
        now = self.now if now is None else now
        if not 0 <= ts <= _LAST_DATE or (now is not None and not 0 <= now <= _LAST_DATE):
            return f"chain time {ts}"
        return when(ts, now) if now is not None else utc(ts)


# ---- names of states and codes ----
# (the enums are imported where used: node.chain.errors imports this module, and the modules
# that define them import node.chain.errors)


def _job_state(code: int) -> str:
    from node.chain.contracts.job_market import JobState

    return _enum_name(JobState, code, {"none": "not posted"})


def _claim_state(code: int) -> str:
    from node.chain.contracts.job_market import ClaimState

    return _enum_name(ClaimState, code, {"none": "nonexistent", "active": "active (executing)"})


def _phase(code: int) -> str:
    from node.game.rules import Phase

    return _enum_name(Phase, code, {})


def _game_status(code: int) -> str:
    from node.game.rules import GameStatus

    return _enum_name(GameStatus, code, {})


def _opcode(code: int) -> str:
    from node.program.constants import Opcode

    return _enum_name(Opcode, code, {})


def _enum_name(enum: Any, code: int, words: Mapping[str, str]) -> str:
    try:
        name = str(enum(int(code)).name).lower()
    except ValueError:
        return f"<unknown state {code}>"
    return words.get(name, name.replace("_", " "))


def eth(wei: int) -> str:
    """An amount in ETH; one too large for the decimal context (past 10^28 ETH, only a
    contract's "no limit" sentinel gets there) in wei."""
    try:
        return _readable_eth(wei)
    except ArithmeticError:
        return f"{wei} wei"


def _addr(value: Any) -> str:
    """An address as wallets and explorers show it (EIP-55 checksummed)."""
    from eth_utils import to_checksum_address

    try:
        return str(to_checksum_address(value))
    except (TypeError, ValueError):
        return str(value)


def _short(value: Any) -> str:
    raw = bytes(value)
    return "0x" + raw.hex()[:10] + "…"


def _lock(key: int) -> str:
    """A StakeManager lock key: a claim id, or GAME_LOCK_BASE + a game id (a game's backing)."""
    if key >= _GAME_LOCK_BASE:
        return f"the backing of game {key - _GAME_LOCK_BASE}"
    return f"claim {key}'s stake lock"


# ---- the sentences ----


def _param_out_of_range(a: Args, c: _Ctx) -> str:
    param, value, lo, hi = int(a["param"]), int(a["value"]), int(a["min"]), int(a["max"])
    name = PARAM.get(param, f"parameter {param}")
    if c.action == "post" and param in POST_OPTION:
        label = f"`{POST_OPTION[param]}`"
    elif c.action == "post" and param in _PROGRAM_PARAM:
        label = _PROGRAM_PARAM[param]
    else:
        label = f"the {name}"
    if param == _CLAIM_BY:  # a chain time: min is the block's own time
        now = c.now if c.now is not None else lo
        if value < lo:
            return (
                f"{label} gives a claim deadline of {c.at(value, now)}, which has passed: "
                "the job must stay claimable for some time from now"
            )
        return f"{label} gives a claim deadline of {c.at(value)}, too far in the future"
    show: Callable[[int], str] = str
    if param in _DURATION_PARAMS:
        show = duration
    elif param in _AMOUNT_PARAMS:
        show = eth
    if value < lo:
        return f"{label} {show(value)} is below the market's minimum of {show(lo)}"
    return f"{label} {show(value)} is above the market's maximum of {show(hi)}"


def _zero_amount(_a: Args, c: _Ctx) -> str:
    what = {
        "post": "the reward (`--reward`)",
        "postToken": "the reward that arrived (`--reward`, less any fee the token takes)",
        "deposit": "the stake to deposit",
        "depositToken": "the stake that arrived (less any fee the token takes)",
        "requestUnbond": "the amount to unstake",
    }.get(c.action, "the amount")
    return f"{what} is zero: it must be more than 0"


def _insufficient_stake(a: Args, c: _Ctx) -> str:
    free, needed = int(a["free"]), int(a["needed"])
    who = f"provider {_addr(a['provider'])}"
    if c.action == "requestUnbond":
        return (
            f"cannot unstake {eth(needed)}: {who} has only {eth(free)} of free stake (stake "
            "locked by claims and games is freed when they settle)"
        )
    return f"{who} has {eth(free)} of free stake, {eth(needed)} needed: `poc provider stake` more"


def _wrong_job_state(a: Args, c: _Ctx) -> str:
    job, have, want = int(a["jobId"]), int(a["have"]), int(a["want"])
    text = f"job {job} is {_job_state(have)}, but {c.action or 'this'} needs it {_job_state(want)}"
    if c.action == "cancel" and _job_state(have) == "claimed":
        text += "; a claimed job can be cancelled only once its claim misses its execution deadline"
    return text


def _wrong_claim_state(a: Args, c: _Ctx) -> str:
    claim, have, want = int(a["claimId"]), int(a["have"]), int(a["want"])
    return (
        f"claim {claim} is {_claim_state(have)}, but {c.action or 'this'} needs it "
        f"{_claim_state(want)}"
    )


_SENTENCES: Mapping[str, Callable[[Args, _Ctx], str]] = {
    # common
    E.REENTRANCY: lambda a, c: (
        "the contract refused a re-entrant call (a transfer called back into it)"
    ),
    E.TRANSFER_FAILED: lambda a, c: (
        f"sending {eth(int(a['amount']))} to {_addr(a['to'])} failed: that address refuses ether"
    ),
    E.NOT_DEPLOYER: lambda a, c: f"only the deployer may do this, not {_addr(a['caller'])}",
    E.ALREADY_SET: lambda a, c: "the contracts are already wired together (set once)",
    E.ZERO_AMOUNT: _zero_amount,
    E.UNAUTHORIZED: lambda a, c: (
        f"{_addr(a['caller'])} may not call this: only the protocol's own contracts may"
    ),
    # the asset (protocol.md 6.7)
    E.TOKEN_TRANSFER_FAILED: lambda a, c: (
        f"the market's token {_addr(a['token'])} refused to move {a['amount']} units for "
        f"{_addr(a['party'])} (the transfer reverted or returned false): check that account's "
        "token balance and its allowance to the market or the stake manager"
    ),
    E.ETHER_ON_TOKEN_PATH: lambda a, c: (
        f"this market is paid in a token: send no ether with the call ({eth(int(a['sent']))} "
        "was sent)"
    ),
    E.NOT_TOKEN_MARKET: lambda a, c: (
        "this market is paid in ether: use the ether functions (post, challenge, deposit "
        "with a value), not the token ones"
    ),
    E.NOT_ETHER_MARKET: lambda a, c: (
        f"this market is paid in the token {_addr(a['asset'])}, not ether: use the token "
        "functions (postToken, challengeToken, depositToken; `poc` picks them itself)"
    ),
    E.ASSET_HAS_NO_CODE: lambda a, c: (
        f"the asset {_addr(a['asset'])} has no code: give an ERC-20 contract's address, or 0 "
        "for ether"
    ),
    # StakeManager
    E.INSUFFICIENT_STAKE: _insufficient_stake,
    E.LOCK_EXISTS: lambda a, c: f"{_lock(int(a['claimId']))} already exists",
    E.NO_LOCK: lambda a, c: f"there is no {_lock(int(a['claimId']))}",
    E.SLASH_TOO_LARGE: lambda a, c: (
        f"cannot take {eth(int(a['amount']))} from {_lock(int(a['claimId']))}: only "
        f"{eth(int(a['locked']))} is locked"
    ),
    E.NOTHING_TO_WITHDRAW: lambda a, c: (
        f"{_addr(a['account'])} has nothing to withdraw here (no credits, or no stake whose "
        "unbonding has ended)"
    ),
    E.STILL_UNBONDING: lambda a, c: (
        f"the unbonding stake of {_addr(a['provider'])} can be withdrawn from {c.at(int(a['unlockAt']))}"
    ),
    # JobMarket
    E.PARAM_OUT_OF_RANGE: _param_out_of_range,
    E.JOB_NOT_FOUND: lambda a, c: f"job {a['jobId']} does not exist on this market",
    E.WRONG_JOB_STATE: _wrong_job_state,
    E.WRONG_CLAIM_STATE: _wrong_claim_state,
    E.CLAIM_DEADLINE_PASSED: lambda a, c: (
        f"job {a['jobId']} could be claimed only until {c.at(int(a['claimBy']))}"
    ),
    E.NOT_PROVIDER: lambda a, c: (
        f"only claim {a['claimId']}'s provider {_addr(a['provider'])} may do this, not {_addr(a['caller'])}"
    ),
    E.NOT_POSTER: lambda a, c: (
        f"only job {a['jobId']}'s poster {_addr(a['poster'])} may do this, not {_addr(a['caller'])}"
    ),
    E.EXECUTION_DEADLINE_PASSED: lambda a, c: (
        f"claim {a['claimId']} had to submit its result by {c.at(int(a['deadline']))}"
    ),
    E.EXECUTION_DEADLINE_NOT_PASSED: lambda a, c: (
        f"claim {a['claimId']} may submit its result until {c.at(int(a['deadline']))}: it "
        "cannot be expired before then"
    ),
    E.BAD_OUTPUT_PROOF: lambda a, c: (
        f"job {a['jobId']}'s output proof reaches {_short(a['computed'])}, not the submitted "
        f"state root S_N {_short(a['sN'])}"
    ),
    E.WINDOW_CLOSED: lambda a, c: (
        f"claim {a['claimId']}'s challenge window closed {c.at(int(a['windowEnd']))}"
    ),
    E.WINDOW_OPEN: lambda a, c: (
        f"claim {a['claimId']}'s challenge window is open until {c.at(int(a['windowEnd']))}: "
        "the job can be finalized only after that"
    ),
    E.WRONG_BOND: lambda a, c: (
        f"a challenge of job {a['jobId']} must bring its challenger bond "
        f"{eth(int(a['required']))} (exactly, in ether; at least, arrived, in a token), "
        f"not {eth(int(a['sent']))}"
    ),
    E.GAMES_PENDING: lambda a, c: (
        f"claim {a['claimId']} still has {a['activeGames']} game(s) in play: the job can be "
        "finalized when they end"
    ),
    E.NOT_ELIGIBLE: lambda a, c: (
        f"{_addr(a['provider'])} may not take a seat of replicated job {a['jobId']}: "
        f"{NOT_ELIGIBLE.get(int(a['reason']), 'reason ' + str(a['reason']))}"
    ),
    E.NOT_SEAT_HOLDER: lambda a, c: (
        f"only seat {a['seatId']}'s replica {_addr(a['provider'])} may do this, not {_addr(a['caller'])}"
    ),
    E.WRONG_SEAT_STATE: lambda a, c: (
        f"seat {a['seatId']} is {SEAT_STATES.get(int(a['have']), a['have'])}, not "
        f"{SEAT_STATES.get(int(a['want']), a['want'])}"
    ),
    E.COMMIT_CLOSED: lambda a, c: (
        f"seat {a['seatId']}'s commit deadline passed at {c.at(int(a['commitBy']))}"
    ),
    E.REVEALS_NOT_OPEN: lambda a, c: (
        f"job {a['jobId']}'s reveals open when every seat has committed or at "
        f"{c.at(int(a['commitBy']))}"
    ),
    E.REVEALS_CLOSED: lambda a, c: (
        f"job {a['jobId']}'s reveal window closed at {c.at(int(a['revealBy']))}"
    ),
    E.REVEALS_OPEN: lambda a, c: (
        f"job {a['jobId']} can be tallied when every seat has revealed or after "
        f"{c.at(int(a['revealBy']))}"
    ),
    E.BAD_REVEAL: lambda a, c: (
        f"seat {a['seatId']}'s reveal does not match its commitment (result, replica address "
        "and salt must be those committed)"
    ),
    E.JOB_COOLING_DOWN: lambda a, c: (
        f"job {a['jobId']} reopened after a failed claim and can be claimed again from "
        f"{c.at(int(a['reopensAt']))}"
    ),
    E.OUTPUT_ALREADY_DEMANDED: lambda a, c: (
        f"claim {a['claimId']}'s output was already demanded; it is due {c.at(int(a['due']))}"
    ),
    E.OUTPUT_ALREADY_PUBLISHED: lambda a, c: (
        f"claim {a['claimId']}'s output is already published on chain"
    ),
    E.OUTPUT_NOT_DEMANDED: lambda a, c: (
        f"claim {a['claimId']}'s output was never demanded (`poc job demand-output` first)"
    ),
    E.OUTPUT_PENDING: lambda a, c: (
        f"claim {a['claimId']}'s output was demanded and is due {c.at(int(a['due']))}: until "
        "then the provider may publish it and the job cannot be finalized"
    ),
    E.BAD_OUTPUT_DATA: lambda a, c: (
        f"the output published for claim {a['claimId']} is {a['length']} bytes, not a positive "
        f"multiple of its {a['leafSize']}-byte leaves (32 for int8, 128 for int32)"
    ),
    E.BAD_OUTPUT: lambda a, c: (
        f"the output published for claim {a['claimId']} hashes to {_short(a['computed'])}, "
        f"not to the claim's output root {_short(a['outputRoot'])}"
    ),
    # DisputeGame
    E.GAME_NOT_FOUND: lambda a, c: f"game {a['gameId']} does not exist",
    E.GAME_OVER: lambda a, c: f"game {a['gameId']} is over: {_game_status(int(a['status']))}",
    E.WRONG_PHASE: lambda a, c: (
        f"game {a['gameId']} is at its {_phase(int(a['have']))} step, not "
        f"{_phase(int(a['want']))}: the position moved on"
    ),
    E.NOT_MOVER: lambda a, c: (
        f"it is {_addr(a['mover'])}'s turn in game {a['gameId']}, not {_addr(a['caller'])}'s"
    ),
    E.CLOCK_EXPIRED: lambda a, c: (
        f"the mover's clock in game {a['gameId']} ran out {c.at(int(a['deadline']))}"
    ),
    E.CLOCK_RUNNING: lambda a, c: (
        f"the mover in game {a['gameId']} has until {c.at(int(a['deadline']))}: no timeout "
        "before then"
    ),
    E.GAME_NOT_DECIDED: lambda a, c: (
        f"game {a['gameId']} is still being played: it is settled once the step or a timeout "
        "decides it"
    ),
    E.GAME_ALREADY_SETTLED: lambda a, c: f"game {a['gameId']} is already settled (paid)",
    E.BAD_LENGTH: lambda a, c: (
        f"the move in game {a['gameId']} carries {a['have']} values, {a['want']} expected"
    ),
    E.REVEAL_MISMATCH: lambda a, c: (
        f"the values revealed in game {a['gameId']} hash to {_short(a['have'])}, not to the "
        f"committed {_short(a['want'])}"
    ),
    E.INDEX_OUT_OF_RANGE: lambda a, c: (
        f"index {a['index']} is out of range (it must be below {a['bound']})"
    ),
    E.NODES_MISMATCH: lambda a, c: (
        f"the children revealed in game {a['gameId']} hash to {_short(a['computed'])}, not to "
        f"the disputed node {_short(a['node'])}"
    ),
    E.BAD_PROOF: lambda a, c: (
        f"the Merkle proof {PROOF.get(int(a['which']), a['which'])} reaches "
        f"{_short(a['computed'])}, not {_short(a['root'])}"
    ),
    E.OP_COMMIT_MISMATCH: lambda a, c: (
        f"the op opened in game {a['gameId']} commits to {_short(a['have'])}, not to "
        f"{_short(a['want'])}"
    ),
    E.BAD_ARITY: lambda a, c: f"a game arity of 2^{a['log2Arity']} is not supported",
    E.BAD_OP_LENGTH: lambda a, c: f"an op encoding is {a['length']} bytes, not 64",
    E.BAD_OP_FIELD: lambda a, c: (
        f"the op's field {OP_FIELD.get(int(a['field']), a['field'])} has the invalid value "
        f"{a['value']} (docs/protocol.md section 4)"
    ),
    E.PROOF_LENGTH: lambda a, c: (
        f"the proof {PROOF.get(int(a['which']), a['which'])} has {a['have']} nodes, "
        f"{a['want']} expected"
    ),
    E.OPERAND_LENGTH: lambda a, c: (
        f"operand {OPERAND.get(int(a['which']), a['which'])} is {a['have']} bytes, "
        f"{a['want']} expected"
    ),
    E.NOT_ELEMENTWISE: lambda a, c: (
        f"op {_opcode(int(a['opcode']))} is not elementwise: leaf {a['leafIndex']} cannot be "
        "stepped on its own"
    ),
    E.NOT_REDUCTION: lambda a, c: f"op {_opcode(int(a['opcode']))} is not a reduction",
    E.BAD_INPUT_SPEC: lambda a, c: (
        f"input slot {a['slot']}'s committed spec has the invalid {SPEC_FIELD.get(int(a['field']), a['field'])} "
        f"{a['value']}: the program breaks a table rule and the op cannot be opened "
        "(docs/protocol.md section 4)"
    ),
    E.OPERAND_MISMATCH: lambda a, c: (
        f"operand {OPENED_OPERAND.get(int(a['operand']), a['operand'])} (slot {a['slot']}) "
        f"holds {_dtype(int(a['dtype']))} x {a['numel']}, the op expects "
        f"{_dtype(int(a['wantDtype']))} x {a['wantNumel']}: the program breaks a table rule and "
        "the op cannot be opened (docs/protocol.md section 4)"
    ),
    E.SPEC_SOURCE_LENGTH: lambda a, c: (
        f"the spec source of operand {OPENED_OPERAND.get(int(a['operand']), a['operand'])} is "
        f"{a['have']} bytes, {a['want']} expected (a spec leaf is 32, an op 64)"
    ),
    # Solidity's own
    "Error": lambda a, c: f"the contract says: {a['reason']}",
    "Panic": lambda a, c: (
        f"the contract panicked: {_PANIC.get(int(a['code']), 'an internal error')} "
        f"(code {int(a['code']):#x})"
    ),
}
