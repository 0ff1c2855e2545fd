"""The deployed protocol as the roles see it: the three contracts, typed reads of jobs, claims
and games (structs decoded by their ABI field names, so a reordered struct cannot be misread),
and the game view the solver needs (position from getGame, revealed arrays from events).

Being replaced by node.chain.contracts (Deployment); the job and claim types and the ABI loading
already live there and are re-exported here for the current importers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract

from node.chain.abi import REPO_BUILD, AbiNotFound, protocol_abis
from node.chain.contracts.job_market import Claim, ClaimState, Job, JobParams, JobState
from node.chain.revert import RevertDecoder
from node.game.view import GameStatus, GameView, OpenedOp, Phase
from node.program.hashing import sha256
from node.roles.errors import NotConfigured

LOG_WINDOW = 5000  # blocks per eth_getLogs call
CONTRACTS = {
    "job_market": "JobMarket",
    "stake_manager": "StakeManager",
    "dispute_game": "DisputeGame",
}


def load_abis(
    abi_dir: Path | None = None, build_dir: Path = REPO_BUILD
) -> dict[str, list[dict[str, Any]]]:
    """The ABIs of the protocol contracts (node.chain.abi.protocol_abis)."""
    return protocol_abis(abi_dir, build_dir)


def _named(abi_outputs: list[dict[str, Any]], value: Any) -> Any:
    """A decoded struct (tuple) as a dict keyed by the ABI's component names, recursively."""
    if len(abi_outputs) == 1 and abi_outputs[0]["type"] == "tuple":
        return _struct(abi_outputs[0]["components"], value)
    return value


def _struct(components: list[dict[str, Any]], value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        value = [value[c["name"]] for c in components]
    out = {}
    for comp, item in zip(components, value, strict=True):
        out[comp["name"]] = _struct(comp["components"], item) if comp["type"] == "tuple" else item
    return out


class Protocol:
    def __init__(
        self,
        w3: Web3,
        addresses: Mapping[str, str | None],
        abis: Mapping[str, list[dict[str, Any]]] | None = None,
        start_block: int = 0,
    ) -> None:
        abis = abis or load_abis()
        missing = [k for k in CONTRACTS if not addresses.get(k)]
        if missing:
            raise NotConfigured(
                f"contract addresses missing: {', '.join(missing)} "
                "(set them in the config, e.g. POC_CONTRACTS__JOB_MARKET)"
            )
        self.w3 = w3
        self.abis = dict(abis)
        self.start_block = start_block
        bind = {
            k: w3.eth.contract(address=Web3.to_checksum_address(str(addresses[k])), abi=abis[name])
            for k, name in CONTRACTS.items()
        }
        self.market: Contract = bind["job_market"]
        self.stake: Contract = bind["stake_manager"]
        self.game: Contract = bind["dispute_game"]
        self.decoder = RevertDecoder(abis.values())
        self._log2_arity: int | None = None

    def _outputs(self, contract: Contract, fn: str) -> list[dict[str, Any]]:
        for entry in contract.abi:
            if entry.get("type") == "function" and entry.get("name") == fn:
                return list(entry.get("outputs", []))  # type: ignore[call-overload]
        raise AbiNotFound(f"no function {fn} in the ABI")

    def _read(self, contract: Contract, fn: str, *args: Any) -> Any:
        return _named(self._outputs(contract, fn), contract.functions[fn](*args).call())

    # ---- chain ----

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    # ---- market ----

    def job_count(self) -> int:
        return int(self.market.functions.jobCount().call())

    def job(self, job_id: int) -> Job:
        d = self._read(self.market, "getJob", job_id)
        p = d["params"]
        params = JobParams(
            bytes(p["programRoot"]),
            bytes(p["s0"]),
            int(p["nInputs"]),
            int(p["nOps"]),
            int(p["outputSlot"]),
            int(p["requiredStake"]),
            int(p["challengerBond"]),
            int(p["claimBy"]),
            int(p["executeWithin"]),
            int(p["challengeWindow"]),
            int(p["clock"]),
        )
        return Job(
            job_id,
            params,
            str(d["poster"]),
            JobState(int(d["state"])),
            int(d["currentClaim"]),
            int(d["reward"]),
        )

    def claim(self, claim_id: int) -> Claim:
        d = self._read(self.market, "getClaim", claim_id)
        return Claim(
            claim_id,
            int(d["jobId"]),
            str(d["provider"]),
            ClaimState(int(d["state"])),
            int(d["activeGames"]),
            int(d["claimedAt"]),
            int(d["submittedAt"]),
            int(d["lock"]),
            bytes(d["sN"]),
            bytes(d["outputRoot"]),
        )

    def games_of_claim(self, claim_id: int) -> list[int]:
        return [int(g) for g in self.market.functions.gamesOfClaim(claim_id).call()]

    def challenger_of(self, game_id: int) -> str:
        return str(self.market.functions.challengerOfGame(game_id).call())

    def credits(self, account: str) -> int:
        return int(self.market.functions.credits(account).call())

    def free_stake(self, account: str) -> int:
        return int(self.stake.functions.freeStake(account).call())

    def unbonding(self, account: str) -> tuple[int, int]:
        amount, unlock_at = self.stake.functions.unbonding(account).call()
        return int(amount), int(unlock_at)

    def latest_logs(self, event: Any, filters: dict[str, int]) -> list[Any]:
        """The logs of `event` matching `filters` in the newest window of blocks that has any,
        searching back from the head to start_block. Bounded windows, because public RPC
        endpoints refuse eth_getLogs over long ranges; newest first, because the game needs
        the latest reveal."""
        hi = self.block_number()
        while hi >= self.start_block:
            lo = max(self.start_block, hi - LOG_WINDOW + 1)
            logs = list(event.get_logs(argument_filters=filters, from_block=lo, to_block=hi))
            if logs:
                return logs
            hi = lo - 1
        return []

    def spec_locator(self, job_id: int) -> str:
        logs = self.latest_logs(self.market.events.JobPosted, {"jobId": job_id})
        if not logs:
            raise NotConfigured(
                f"no JobPosted event for job {job_id} since block {self.start_block}"
            )
        return str(logs[-1]["args"]["specLocator"])

    def output_locator(self, claim_id: int) -> str | None:
        logs = self.latest_logs(self.market.events.ResultSubmitted, {"claimId": claim_id})
        return str(logs[-1]["args"]["outputLocator"]) if logs else None

    # ---- game ----

    def log2_arity(self) -> int:
        if self._log2_arity is None:
            self._log2_arity = int(self.game.functions.arity().call()).bit_length() - 1
        return self._log2_arity

    def _game_events(self, name: str, game_id: int) -> list[Any]:
        return self.latest_logs(self.game.events[name], {"gameId": game_id})

    def game_view(self, game_id: int) -> GameView:
        g = self._read(self.game, "getGame", game_id)
        phase = Phase(int(g["phase"]))
        view = GameView(
            game_id=game_id,
            claim_id=int(g["claimId"]),
            status=GameStatus(int(g["status"])),
            phase=phase,
            provider=str(g["provider"]),
            challenger=str(g["challenger"]),
            lo=int(g["lo"]),
            hi=int(g["hi"]),
            height=int(g["height"]),
            index=int(g["index"]),
            elem=int(g["elem"]),
            chunk_step=bool(g["chunkStep"]),
            low=bytes(g["low"]),
            high=bytes(g["high"]),
            n_inputs=int(g["nInputs"]),
            n_ops=int(g["nOps"]),
            op_index=int(g["opIndex"]),
            opcode=int(g["opcode"]),
            out_leaves=int(g["outLeaves"]),
            k_chunks=int(g["kChunks"]),
            provider_clock=int(g["providerClock"]),
            challenger_clock=int(g["challengerClock"]),
            last_move_at=int(g["lastMoveAt"]),
            now=self.now(),
            log2_arity=self.log2_arity(),
        )
        if view.status != GameStatus.ACTIVE:
            return view
        extra: dict[str, Any] = {}
        reveal_hash = bytes(g["revealHash"])
        if phase in (Phase.EXEC_PICK, Phase.TENSOR_PICK):
            event = "StatesRevealed" if phase == Phase.EXEC_PICK else "NodesRevealed"
            field = "roots" if phase == Phase.EXEC_PICK else "nodes"
            arrays = [
                tuple(bytes(r) for r in e["args"][field]) for e in self._game_events(event, game_id)
            ]
            extra["revealed_roots"] = _matching(arrays, reveal_hash, lambda a: b"".join(a))
        elif phase == Phase.SUM_PICK:
            sums = [
                tuple(int(s) for s in e["args"]["sums"])
                for e in self._game_events("SumsRevealed", game_id)
            ]
            extra["revealed_sums"] = _matching(
                sums, reveal_hash, lambda a: b"".join(x.to_bytes(32, "big", signed=True) for x in a)
            )
        elif phase == Phase.ELEMENT_PICK:
            leaves = [bytes(e["args"]["leaf"]) for e in self._game_events("LeafRevealed", game_id)]
            extra["revealed_leaf"] = next(x for x in reversed(leaves) if sha256(x) == view.high)
        if phase == Phase.STEP:
            opened = self._game_events("OpOpened", game_id)[-1]["args"]
            extra["opened"] = OpenedOp(bytes(opened["op"]), bytes(opened["outRoot"]))
        return replace(view, **extra)


def _matching(arrays: list[Any], reveal_hash: bytes, packed: Any) -> Any:
    """The latest revealed array whose packed keccak is the one the game stored."""
    for arr in reversed(arrays):
        if keccak(packed(arr)) == reveal_hash:
            return arr
    raise LookupError(f"no revealed array matches the game's reveal hash 0x{reveal_hash.hex()}")
