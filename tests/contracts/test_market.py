"""Scenario suite of JobMarket and StakeManager: every function, every custom error, pull
payments, the reentrancy guard. Runs on the embedded chain and on anvil."""

from __future__ import annotations

import ape
import pytest
from conftest import (
    BOND,
    CLOCK,
    ETHER_ASSET,
    EXECUTE,
    REWARD,
    STAKE,
    WINDOW,
    balances_ok,
    challenged,
    job_params,
    open_game,
    post_job,
    submit,
)

from node.game.rules import GameStatus

JOB_OPEN, JOB_CLAIMED, JOB_FINALIZED, JOB_CANCELLED = 1, 2, 3, 4
CLAIM_ACTIVE, CLAIM_SUBMITTED, CLAIM_ACCEPTED, CLAIM_REJECTED, CLAIM_EXPIRED = 1, 2, 3, 4, 5
BURN = "0x000000000000000000000000000000000000dEaD"


def advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


# ------------------------------------------------------------------ happy path


def test_post_claim_submit_finalize_pays_provider_by_pull(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    assert m.getJob(job).state == JOB_OPEN and m.totalEscrow() == REWARD
    s.deposit(value=STAKE, sender=provider)
    tx = m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    assert m.getJob(job).state == JOB_CLAIMED and s.freeStake(provider) == 0
    assert s.lockOf(claim_id).amount == STAKE
    assert tx.events.filter(m.JobClaimed)[0].claimId == claim_id
    submit(m, provider, job, honest_trace)
    c = m.getClaim(claim_id)
    assert c.state == CLAIM_SUBMITTED and bytes(c.sN) == honest_trace.states[-1]
    assert m.windowEnd(job) == c.submittedAt + WINDOW
    with ape.reverts(m.WindowOpen):
        m.finalize(job, sender=anyone)
    advance(chain, WINDOW + 1)
    m.finalize(job, sender=anyone)
    assert m.getJob(job).state == JOB_FINALIZED and m.getClaim(claim_id).state == CLAIM_ACCEPTED
    assert m.credits(provider) == REWARD and s.freeStake(provider) == STAKE
    balances_ok(system)
    before = provider.balance
    tx = m.withdraw(sender=provider)
    assert provider.balance == before + REWARD - tx.total_fees_paid
    assert m.credits(provider) == 0
    with ape.reverts(m.NothingToWithdraw, account=provider.address):
        m.withdraw(sender=provider)
    balances_ok(system)


def test_cancel_refunds_poster_only_while_open(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    m = system.market
    job = post_job(m, poster, honest_trace, chain)
    with ape.reverts(m.NotPoster, jobId=job, caller=anyone.address, poster=poster.address):
        m.cancel(job, sender=anyone)
    m.cancel(job, sender=poster)
    assert m.getJob(job).state == JOB_CANCELLED and m.credits(poster) == REWARD
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_CANCELLED, want=JOB_OPEN):
        m.cancel(job, sender=poster)
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_CANCELLED, want=JOB_OPEN):
        m.claim(job, sender=provider)
    m.withdraw(sender=poster)
    balances_ok(system)


def test_missed_deadline_reopens_and_compensates_poster(
    system, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    s.deposit(value=STAKE, sender=provider)
    m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    with ape.reverts(m.ExecutionDeadlineNotPassed):
        m.expire(job, sender=anyone)
    advance(chain, EXECUTE + 1)
    with ape.reverts(m.ExecutionDeadlinePassed):
        submit(m, provider, job, honest_trace)
    m.expire(job, sender=anyone)
    slashed = STAKE * 1000 // 10_000
    assert m.getClaim(claim_id).state == CLAIM_EXPIRED and m.getJob(job).state == JOB_OPEN
    assert m.credits(poster) == slashed and s.freeStake(provider) == STAKE - slashed
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_OPEN, want=JOB_CLAIMED):
        m.expire(job, sender=anyone)
    balances_ok(system)
    # the job can be claimed again, by another provider, after the cooldown (protocol.md 6.5 R5)
    s.deposit(value=STAKE, sender=anyone)
    reopens_at = m.getJob(job).reopensAt
    with ape.reverts(m.JobCoolingDown, jobId=job, reopensAt=reopens_at):
        m.claim(job, sender=anyone)
    advance(chain, m.MIN_CLOCK())
    m.claim(job, sender=anyone)
    assert m.getClaim(int(m.claimCount())).provider == anyone.address
    balances_ok(system)


def test_challenge_lost_by_provider_rejects_claim_burns_lock_and_pays_backing(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    """protocol.md 6.5 R1-R3: the game's backing (free stake locked when it opened) pays the
    bounty; the claim lock is burned whole."""
    from contracts_trace import Trace, play_traces

    m, s = system.market, system.stake
    provider, challenger, _ = players
    liar = Trace(honest_trace.program, honest_trace.values, corrupt=(3, 7, 1))
    s.deposit(value=2 * STAKE, sender=provider)  # the claim lock and, free, the game's backing
    job, claim_id, gid = challenged(system, poster, players, liar, chain)
    assert m.totalBonds() == BOND and list(m.gamesOfClaim(claim_id)) == [gid]
    assert m.backingOfGame(gid) == STAKE and s.freeStake(provider) == 0
    assert s.lockOf(2**128 + gid).amount == STAKE
    burn_before = chain.provider.get_balance(BURN)
    r = play_traces(system.game, gid, liar, honest_trace, players, chain)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts
    assert m.getClaim(claim_id).state == CLAIM_REJECTED and m.getJob(job).state == JOB_OPEN
    assert m.credits(challenger) == BOND + STAKE // 2
    assert chain.provider.get_balance(BURN) - burn_before == STAKE + STAKE - STAKE // 2
    assert m.totalBonds() == 0 and s.totalLocked() == 0 and s.freeStake(provider) == 0
    balances_ok(system)
    m.cancel(job, sender=poster)
    m.withdraw(sender=challenger)
    m.withdraw(sender=poster)
    balances_ok(system)


def test_challenge_lost_by_challenger_pays_bond_to_provider(
    system, poster, players, chain, honest_trace
):  # noqa: ANN001
    from contracts_trace import play_traces

    m = system.market
    provider, _, anyone = players
    job, claim_id, gid = challenged(system, poster, players, honest_trace, chain)
    with ape.reverts(m.WrongBond, jobId=job, sent=1, required=BOND):
        m.challenge(job, value=1, sender=anyone)
    r = play_traces(system.game, gid, honest_trace, honest_trace, players, chain)
    assert r.status == GameStatus.PROVIDER_WON and not r.reverts
    assert m.credits(provider) == BOND and m.getClaim(claim_id).activeGames == 0
    advance(chain, WINDOW + 1)
    with ape.reverts(m.WindowClosed):
        m.challenge(job, value=BOND, sender=anyone)
    m.finalize(job, sender=anyone)
    assert m.credits(provider) == BOND + REWARD
    balances_ok(system)


def test_finalize_waits_for_every_game(system, poster, players, chain, honest_trace):  # noqa: ANN001
    m = system.market
    anyone = players[2]
    job, claim_id, g1 = challenged(system, poster, players, honest_trace, chain)
    g2 = open_game(system, job, anyone)
    assert list(m.gamesOfClaim(claim_id)) == [g1, g2] and m.getClaim(claim_id).activeGames == 2
    advance(chain, WINDOW + 1)
    with ape.reverts(m.GamesPending, claimId=claim_id, activeGames=2):
        m.finalize(job, sender=anyone)
    # the provider never moves in game 1 -> loses by timeout: the claim is rejected
    advance(chain, CLOCK + 1)
    system.game.timeout(g1, sender=anyone)
    assert m.getClaim(claim_id).state == CLAIM_REJECTED
    # game 2 of the rejected claim settles on its own: the provider (no free stake, so game 2
    # is unbacked) loses it too; its challenger gets its bond back and a bounty of 0
    assert m.backingOfGame(g2) == 0
    system.game.timeout(g2, sender=anyone)
    assert m.credits(anyone) == BOND and m.getClaim(claim_id).activeGames == 0
    balances_ok(system)


# ------------------------------------------------------------------ errors of post / claim / submit


@pytest.mark.parametrize(
    "field,value,param",
    [
        ("challengeWindow", 59, 1),
        ("challengeWindow", 14 * 86400 + 1, 1),
        ("clock", 10, 2),
        ("executeWithin", 7 * 86400 + 1, 3),
        ("outputSlot", 99, 5),
        ("challengerBond", 0, 6),
        ("nOps", 0, 8),
        ("requiredStake", 0, 9),
    ],
)
def test_post_rejects_out_of_range_params(system, poster, chain, honest_trace, field, value, param):  # noqa: ANN001
    with ape.reverts(system.market.ParamOutOfRange, param=param, value=value):
        system.market.post(
            job_params(honest_trace, chain, **{field: value}), "x", value=REWARD, sender=poster
        )


def test_post_rejects_zero_reward_and_past_claim_by(system, poster, chain, honest_trace):  # noqa: ANN001
    m = system.market
    with ape.reverts(m.ZeroAmount):
        m.post(job_params(honest_trace, chain), "x", value=0, sender=poster)
    with ape.reverts(m.ParamOutOfRange):
        m.post(job_params(honest_trace, chain, claimBy=1), "x", value=REWARD, sender=poster)
    with ape.reverts(m.ParamOutOfRange):
        # nInputs + nOps > MAX_SLOTS (v7: 2^17; 70,000 slots are a valid program now)
        m.post(job_params(honest_trace, chain, nInputs=2**17), "x", value=REWARD, sender=poster)


def test_claim_errors(system, poster, provider, anyone, chain, honest_trace):  # noqa: ANN001
    m, s = system.market, system.stake
    with ape.reverts(m.JobNotFound, jobId=999):
        m.claim(999, sender=provider)
    job = post_job(m, poster, honest_trace, chain, claimBy=chain.pending_timestamp + 100)
    with ape.reverts(s.InsufficientStake, provider=anyone.address, free=0, needed=STAKE):
        m.claim(job, sender=anyone)
    advance(chain, 200)
    s.deposit(value=STAKE, sender=provider)
    with ape.reverts(m.ClaimDeadlinePassed, jobId=job):
        m.claim(job, sender=provider)


def test_submit_errors(system, poster, provider, anyone, chain, honest_trace):  # noqa: ANN001
    m, s = system.market, system.stake
    job = post_job(m, poster, honest_trace, chain)
    p = honest_trace.program
    args = (
        honest_trace.states[-1],
        honest_trace.slot_root(p.output_slot),
        honest_trace.output_proof(p.output_slot),
        "o",
    )
    with ape.reverts(m.WrongJobState, jobId=job, have=JOB_OPEN, want=JOB_CLAIMED):
        m.submitResult(job, *args, sender=provider)
    s.deposit(value=STAKE, sender=provider)
    m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    with ape.reverts(
        m.NotProvider, claimId=claim_id, caller=anyone.address, provider=provider.address
    ):
        m.submitResult(job, *args, sender=anyone)
    with ape.reverts(m.BadOutputProof):
        m.submitResult(job, args[0], bytes(32), args[2], "o", sender=provider)
    with ape.reverts(m.BadOutputProof):
        m.submitResult(job, args[0], args[1], args[2][:-1], "o", sender=provider)
    with ape.reverts(m.WrongClaimState, claimId=claim_id, have=CLAIM_ACTIVE, want=CLAIM_SUBMITTED):
        m.challenge(job, value=BOND, sender=anyone)
    with ape.reverts(m.WrongClaimState, claimId=claim_id, have=CLAIM_ACTIVE, want=CLAIM_SUBMITTED):
        m.finalize(job, sender=anyone)
    m.submitResult(job, *args, sender=provider)
    with ape.reverts(m.WrongClaimState, claimId=claim_id, have=CLAIM_SUBMITTED, want=CLAIM_ACTIVE):
        m.submitResult(job, *args, sender=provider)
    with ape.reverts(m.WrongClaimState, claimId=claim_id, have=CLAIM_SUBMITTED, want=CLAIM_ACTIVE):
        m.expire(job, sender=anyone)


def test_wiring_is_one_time_and_guarded(system, deployer, anyone):  # noqa: ANN001
    m, s, g = system.market, system.stake, system.game
    with ape.reverts(m.NotDeployer, caller=anyone.address):
        m.setGame(anyone.address, sender=anyone)
    with ape.reverts(m.AlreadySet):
        m.setGame(anyone.address, sender=deployer)
    with ape.reverts(s.NotDeployer, caller=anyone.address):
        s.setMarket(anyone.address, sender=anyone)
    with ape.reverts(s.AlreadySet):
        s.setMarket(anyone.address, sender=deployer)
    with ape.reverts(m.Unauthorized, caller=anyone.address):
        m.onGameResolved(1, 1, True, sender=anyone)
    with ape.reverts(m.Unauthorized, caller=anyone.address):
        anyone.transfer(m.address, 1)
    with ape.reverts(g.Unauthorized, caller=anyone.address):
        g.create(
            1,
            anyone.address,
            anyone.address,
            bytes(32),
            bytes(32),
            bytes(32),
            1,
            1,
            60,
            sender=anyone,
        )
    for fn, args in [(s.lock, (anyone.address, 1, 1)), (s.unlock, (1,)), (s.slash, (1, 1))]:
        with ape.reverts(s.Unauthorized, caller=anyone.address):
            fn(*args, sender=anyone)


def test_game_rejects_bad_arity(project, deployer, system, chain):  # noqa: ANN001
    from ape.exceptions import ContractLogicError

    for bad in (0, 9):
        with pytest.raises(ContractLogicError) as info:
            deployer.deploy(project.DisputeGame, system.market.address, system.step.address, bad)
        if chain.provider.name == "test":  # anvil does not hand back a constructor's revert data
            assert type(info.value).__name__ == "BadArity" and info.value.inputs["log2Arity"] == bad


# ------------------------------------------------------------------ StakeManager


def test_stake_deposit_unbond_withdraw(system, provider, chain):  # noqa: ANN001
    s = system.stake
    with ape.reverts(s.ZeroAmount):
        s.deposit(value=0, sender=provider)
    s.deposit(value=STAKE, sender=provider)
    with ape.reverts(s.ZeroAmount):
        s.requestUnbond(0, sender=provider)
    with ape.reverts(s.InsufficientStake, provider=provider.address, free=STAKE, needed=STAKE + 1):
        s.requestUnbond(STAKE + 1, sender=provider)
    with ape.reverts(s.NothingToWithdraw, account=provider.address):
        s.withdraw(sender=provider)
    s.requestUnbond(STAKE // 2, sender=provider)
    amount, unlock_at = s.unbonding(provider)
    assert amount == STAKE // 2 and unlock_at >= chain.pending_timestamp + s.UNBONDING_DELAY() - 5
    with ape.reverts(s.StillUnbonding):
        s.withdraw(sender=provider)
    # the delay outlasts any claim a stake can answer for
    assert s.UNBONDING_DELAY() >= 7 * 86400 + 14 * 86400 + 2 * 7 * 86400
    advance(chain, s.UNBONDING_DELAY() + 1)
    before = provider.balance
    tx = s.withdraw(sender=provider)
    assert provider.balance == before + STAKE // 2 - tx.total_fees_paid
    assert s.freeStake(provider) == STAKE - STAKE // 2
    balances_ok(system)


def test_stake_lock_errors_through_a_direct_market(project, deployer, accounts):  # noqa: ANN001
    s = deployer.deploy(project.StakeManager, ETHER_ASSET)
    mk = accounts[5]
    s.setMarket(mk.address, sender=deployer)
    p = accounts[6]
    s.deposit(value=10, sender=p)
    s.lock(p.address, 1, 4, sender=mk)
    with ape.reverts(s.LockExists, claimId=1):
        s.lock(p.address, 1, 1, sender=mk)
    with ape.reverts(s.InsufficientStake, provider=p.address, free=6, needed=7):
        s.lock(p.address, 2, 7, sender=mk)
    with ape.reverts(s.NoLock, claimId=2):
        s.unlock(2, sender=mk)
    with ape.reverts(s.NoLock, claimId=2):
        s.slash(2, 1, sender=mk)
    with ape.reverts(s.SlashTooLarge, claimId=1, amount=5, locked=4):
        s.slash(1, 5, sender=mk)
    s.slash(1, 3, sender=mk)  # 3 to the "market" account, 1 back to free
    assert s.freeStake(p) == 7 and s.totalLocked() == 0
    s.lock(p.address, 3, 7, sender=mk)
    s.unlock(3, sender=mk)
    assert s.freeStake(p) == 7
    assert s.balance == s.totalFree() + s.totalLocked() + s.totalUnbonding()


# ------------------------------------------------------------------ pull payments and reentrancy


def test_reentrant_receiver_cannot_withdraw_twice(project, system, deployer, chain, honest_trace):  # noqa: ANN001
    m = system.market
    r = deployer.deploy(project.ReentrantReceiver)
    r.postAndCancel(m.address, job_params(honest_trace, chain), value=REWARD, sender=deployer)
    assert m.credits(r) == REWARD
    r.attack(m.address, sender=deployer)
    assert r.reentries() == 1 and r.reentrySucceeded() == 0
    assert r.received() == REWARD and m.credits(r) == 0
    balances_ok(system)


def test_reentrant_receiver_cannot_drain_stake(project, system, deployer, chain):  # noqa: ANN001
    s = system.stake
    r = deployer.deploy(project.ReentrantReceiver)
    r.stake(s.address, STAKE, value=STAKE, sender=deployer)
    advance(chain, s.UNBONDING_DELAY() + 1)
    r.attack(s.address, sender=deployer)
    assert r.reentries() == 1 and r.reentrySucceeded() == 0 and r.received() == STAKE
    balances_ok(system)


def test_failed_transfer_keeps_credit(project, system, deployer, chain, honest_trace):  # noqa: ANN001
    m = system.market
    r = deployer.deploy(project.ReentrantReceiver)
    r.postAndCancel(m.address, job_params(honest_trace, chain), value=REWARD, sender=deployer)
    r.setRejecting(True, sender=deployer)
    with ape.reverts(m.TransferFailed, to=r.address, amount=REWARD):
        r.attack(m.address, sender=deployer)
    assert m.credits(r) == REWARD
    balances_ok(system)


# ------------------------------------------------------------------ deployment floors (issue 11: F2, I2)


MAX_CLOCK = 7 * 86400
MAX_AMOUNT = 2**96 - 1  # JobMarket.MAX_AMOUNT: amounts are stored as uint96


@pytest.fixture(scope="session")
def slow_chain_market(project, deployer, system):  # noqa: ANN001, ANN201
    """A market deployed as `poc deploy` would for 12 s blocks at 30 gwei (648 s, 0.054 ETH)."""
    from node.roles.safety import deploy_floors

    floors = deploy_floors(12, 30 * 10**9)
    market = deployer.deploy(
        project.JobMarket, system.stake.address, floors.min_clock, floors.min_bond
    )
    return market, floors


def test_market_reports_its_deployment_floors(system, slow_chain_market):  # noqa: ANN001
    market, floors = slow_chain_market
    assert (floors.min_clock, floors.min_bond) == (648, 540 * 10**14)
    assert (market.MIN_CLOCK(), market.MIN_BOND()) == (648, 540 * 10**14)
    assert (system.market.MIN_CLOCK(), system.market.MIN_BOND()) == (60, 1)


def test_clock_below_the_deployed_floor_is_refused(slow_chain_market, poster, chain, honest_trace):  # noqa: ANN001
    """F2: the 60 s clock of the attack is out of range on a 12 s chain; the floor is accepted."""
    market, floors = slow_chain_market
    with ape.reverts(
        market.ParamOutOfRange, param=2, value=60, min=floors.min_clock, max=MAX_CLOCK
    ):
        market.post(
            job_params(honest_trace, chain, clock=60, challengerBond=floors.min_bond),
            "x",
            value=REWARD,
            sender=poster,
        )
    with ape.reverts(
        market.ParamOutOfRange, param=2, value=floors.min_clock - 1, min=floors.min_clock
    ):
        market.post(
            job_params(
                honest_trace, chain, clock=floors.min_clock - 1, challengerBond=floors.min_bond
            ),
            "x",
            value=REWARD,
            sender=poster,
        )
    market.post(
        job_params(honest_trace, chain, clock=floors.min_clock, challengerBond=floors.min_bond),
        "x",
        value=REWARD,
        sender=poster,
    )
    assert market.getJob(market.jobCount()).params.clock == floors.min_clock


def test_bond_below_the_deployed_minimum_is_refused(slow_chain_market, poster, chain, honest_trace):  # noqa: ANN001
    """I2: a 1 wei bond (a griefer's free ticket) is out of range; the minimum is accepted."""
    market, floors = slow_chain_market
    for bond in (1, floors.min_bond - 1):
        with ape.reverts(
            market.ParamOutOfRange, param=6, value=bond, min=floors.min_bond, max=MAX_AMOUNT
        ):
            market.post(
                job_params(honest_trace, chain, clock=floors.min_clock, challengerBond=bond),
                "x",
                value=REWARD,
                sender=poster,
            )
    market.post(
        job_params(honest_trace, chain, clock=floors.min_clock, challengerBond=floors.min_bond),
        "x",
        value=REWARD,
        sender=poster,
    )


@pytest.mark.parametrize(
    "min_clock,min_bond,param,value",
    [(0, 1, 2, 0), (MAX_CLOCK + 1, 1, 2, MAX_CLOCK + 1), (60, 0, 6, 0)],
)
def test_constructor_refuses_floors_out_of_range(
    project, deployer, system, min_clock, min_bond, param, value
):  # noqa: ANN001
    with pytest.raises(ape.exceptions.ContractLogicError) as err:
        deployer.deploy(project.JobMarket, system.stake.address, min_clock, min_bond)
    if type(err.value).__name__ == "ParamOutOfRange":  # decoded (embedded chain)
        assert (err.value.inputs["param"], err.value.inputs["value"]) == (param, value)
    else:  # anvil: a deployment's revert comes back as raw data
        from eth_abi import encode
        from eth_utils import keccak

        selector = keccak(text="ParamOutOfRange(uint8,uint256,uint256,uint256)")[:4]
        head = (selector + encode(["uint8", "uint256"], [param, value])).hex()
        assert head in str(err.value.revert_message).removeprefix("0x")
