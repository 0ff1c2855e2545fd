"""The contract bindings (node.chain.contracts) against the protocol deployed from the shipped
artifacts on an in-process eth-tester chain: typed reads, transaction builders with their
intent keys, events as records, reverts named with their codes, and the game view's revealed
array found from the events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from node.chain.contracts.deployment import Deployment
from node.chain.contracts.dispute_game import DisputeGameContract, StatesRevealed
from node.chain.contracts.errors import ContractError
from node.chain.contracts.job_market import (
    ClaimState,
    JobParams,
    JobPosted,
    JobState,
    ResultSubmitted,
)
from node.chain.errors import DeploymentNotConfigured, TransactionReverted
from node.chain.revert import protocol_decoder
from node.chain.scanner import ChainEvent
from node.chain.sender import TxSender
from node.devnet.deploy import deploy_protocol
from node.game.actions import PickState, RevealStates, Wait
from node.game.rules import GameStatus, Phase, Side
from node.state.store import StateStore

STAKE = 10**18
BOND = 10**16
REWARD = 10**17
N_INPUTS, N_OPS, OUTPUT_SLOT = 4, 4, 7  # 8 slots: output proofs of depth 3


@dataclass
class Chain:
    w3: Web3
    deployment: Deployment
    poster: TxSender
    provider: TxSender
    challenger: TxSender


def _funded(w3: Web3) -> LocalAccount:
    account: LocalAccount = Account.create()
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**21})
    return account


@pytest.fixture
def chain() -> Iterator[Chain]:
    w3 = Web3(EthereumTesterProvider())
    deployer = TxSender(w3, _funded(w3), protocol_decoder())
    deployed = deploy_protocol(deployer)
    d = Deployment.from_addresses(w3, deployed.addresses, start_block=deployed.block)
    yield Chain(
        w3,
        d,
        *(TxSender(w3, _funded(w3), d.decoder) for _ in range(3)),
    )


def _params(d: Deployment, **change: Any) -> JobParams:
    values: dict[str, Any] = dict(
        program_root=b"\x11" * 32,
        s0=b"\x22" * 32,
        n_inputs=N_INPUTS,
        n_ops=N_OPS,
        output_slot=OUTPUT_SLOT,
        required_stake=STAKE,
        challenger_bond=BOND,
        claim_by=d.now() + 3600,
        execute_within=600,
        challenge_window=600,
        clock=600,
    )
    values.update(change)
    return JobParams(**values)


def _output(output_root: bytes) -> tuple[bytes, list[bytes]]:
    """S_N and a depth-3 sibling path putting `output_root` at slot 7 (the rightmost)."""
    proof = [bytes([i]) * 32 for i in (1, 2, 3)]
    node = output_root
    for sibling in proof:
        node = sha256(sibling + node).digest()  # index bits all 1: the node is the right child
    return node, proof


def _post_claim_submit(c: Chain) -> tuple[int, int]:
    d = c.deployment
    receipt = c.poster.send(d.market.post(_params(d), "ipfs://spec", REWARD))
    (posted,) = d.market.posted_in(receipt)
    job_id = posted.job_id
    c.provider.send(d.stake.deposit(STAKE))
    c.provider.send(d.market.claim_job(job_id))
    claim_id = d.market.job(job_id).current_claim
    s_n, proof = _output(b"\x77" * 32)
    c.provider.send(
        d.market.submit_result(job_id, claim_id, s_n, b"\x77" * 32, proof, "ipfs://out")
    )
    return job_id, claim_id


def test_post_claim_submit_read_back_typed(chain: Chain) -> None:
    d = chain.deployment
    job_id, claim_id = _post_claim_submit(chain)
    job = d.market.job(job_id)
    assert job.state == JobState.CLAIMED and job.reward == REWARD
    assert job.params == _params(d, claim_by=job.params.claim_by)
    assert job.poster == chain.poster.address
    claim = d.market.claim(claim_id)
    assert (claim.job_id, claim.state, claim.provider) == (
        job_id,
        ClaimState.SUBMITTED,
        chain.provider.address,
    )
    assert claim.output_root == b"\x77" * 32 and claim.lock == STAKE
    assert d.market.spec_locator(job_id) == "ipfs://spec"
    submitted = d.market.result_submitted(claim_id)
    assert isinstance(submitted, ResultSubmitted)
    assert submitted.output_locator == "ipfs://out" and submitted.s_n == claim.s_n
    assert d.market.output_locator(claim_id + 1) is None
    assert d.stake.free_stake(chain.provider.address) == 0
    assert d.stake.lock_of(claim_id).amount == STAKE
    assert d.market.job_count() == 1 == d.market.claim_count()


def test_builders_carry_the_roles_intent_keys(chain: Chain) -> None:
    m = chain.deployment.market
    assert m.claim_job(3).key == "claim:3"
    assert m.submit_result(3, 9, b"\0" * 32, b"\0" * 32, [], "x").key == "submit:3:9"
    assert m.finalize(3, 9).key == "finalize:3:9"
    assert m.challenge(3, 9, BOND).key == "challenge:9"
    assert m.challenge(3, 9, BOND).value == BOND
    assert m.expire(3, 9).key == "expire:3:9"
    assert m.cancel(3).key is None and m.withdraw().description == "withdraw"
    assert chain.deployment.stake.deposit(5).value == 5


def test_revert_is_named_with_its_code(chain: Chain) -> None:
    d = chain.deployment
    with pytest.raises(TransactionReverted) as info:
        chain.poster.send(d.market.post(_params(d, challenge_window=30), "x", REWARD))
    assert info.value.error_name == ContractError.PARAM_OUT_OF_RANGE
    assert "param=1 (challengeWindow), value=30" in str(info.value)
    with pytest.raises(TransactionReverted) as stake_info:
        chain.provider.send(d.stake.request_unbond(5))
    assert stake_info.value.error_name == ContractError.INSUFFICIENT_STAKE


def test_unbonding_is_typed(chain: Chain) -> None:
    d = chain.deployment
    chain.provider.send(d.stake.deposit(STAKE))
    chain.provider.send(d.stake.request_unbond(STAKE // 2))
    unbonding = d.stake.unbonding(chain.provider.address)
    assert unbonding.amount == STAKE // 2
    assert unbonding.unlock_at == d.now() + d.stake.unbonding_delay()


def test_game_view_finds_the_reveal_and_moves_are_keyed(chain: Chain) -> None:
    d = chain.deployment
    job_id, claim_id = _post_claim_submit(chain)
    chain.challenger.send(d.market.challenge(job_id, claim_id, BOND))
    (game_id,) = d.market.games_of_claim(claim_id)
    assert d.market.challenger_of(game_id) == chain.challenger.address
    view = d.game_view(game_id)
    assert (view.status, view.phase, view.lo, view.hi) == (
        GameStatus.ACTIVE,
        Phase.EXEC_REVEAL,
        0,
        N_OPS,
    )
    assert view.log2_arity == 4 and view.revealed_states == () == view.revealed_nodes
    roots = tuple(bytes([0x40 + i]) * 32 for i in range(N_OPS - 1))
    reveal = d.game.move(view, Side.PROVIDER, RevealStates(roots))
    assert reveal.key == f"game:{game_id}:provider:{view.position}:revealStates"
    chain.provider.send(reveal)
    picked = d.game_view(game_id)
    assert picked.phase == Phase.EXEC_PICK and picked.revealed_states == roots
    (event,) = d.game.events(StatesRevealed, game_id)
    assert (event.lo, event.hi, event.roots) == (0, N_OPS, roots)
    chain.challenger.send(d.game.move(picked, Side.CHALLENGER, PickState(roots, 1)))
    after = d.game_view(game_id)
    assert (after.lo, after.hi) == (1, 2)
    with pytest.raises(TypeError):
        d.game.move(after, Side.PROVIDER, Wait("nothing to do"))


def test_missing_addresses_are_named(chain: Chain) -> None:
    with pytest.raises(DeploymentNotConfigured, match="stake_manager, dispute_game"):
        Deployment.from_addresses(chain.w3, {"job_market": chain.deployment.market.address})


def test_binding_types(chain: Chain) -> None:
    assert isinstance(chain.deployment.game, DisputeGameContract)
    # the devnet deployment also puts the replica market and its game in place (protocol.md 6.8)
    assert set(chain.deployment.addresses) == {
        "job_market", "stake_manager", "dispute_game", "replica_market", "replica_game"
    }  # fmt: skip
    assert isinstance(chain.deployment.replica_game, DisputeGameContract)
    assert chain.deployment.replicas is not None and chain.deployment.replicas.job_count() == 0


def test_scanned_events_decode_into_records(chain: Chain, tmp_path: Path) -> None:
    d = chain.deployment
    store = StateStore(tmp_path / "s.db")
    job_id, claim_id = _post_claim_submit(chain)
    seen: list[ChainEvent] = []
    d.scanner(store, "test").scan(seen.append)
    posted = [JobPosted.from_log(e) for e in seen if e.name == JobPosted.EVENT]
    assert [(p.job_id, p.spec_locator, p.params.n_ops) for p in posted] == [
        (job_id, "ipfs://spec", N_OPS)
    ]
    (submitted,) = [ResultSubmitted.from_log(e) for e in seen if e.name == "ResultSubmitted"]
    assert submitted.claim_id == claim_id and submitted.block_number > d.start_block
    store.close()
