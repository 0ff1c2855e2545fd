"""Token payments (docs/protocol.md 6.7, issue 12): a market whose escrow, bonds, credits and
stake are an ERC-20 fixed at deployment. The attacks first: a fee-on-transfer token must not make
the market insolvent (what arrived is what is credited, slashes included), a token that returns
false, reverts or returns nothing, ether sent on the token path, an ERC-777-like callback that
re-enters while a pull is measured; then whole lifecycles with a game on the token, and a
hypothesis test that solvency holds (exactly: balance == escrow + bonds + credits) over random
sequences on a fee-on-transfer market."""

from __future__ import annotations

from dataclasses import dataclass, field

import ape
import pytest
from conftest import (
    BOND,
    ETHER_ASSET,
    EXECUTE,
    REWARD,
    STAKE,
    WINDOW,
    System,
    deploy_system,
    job_params,
    submit,
)
from contracts_trace import Trace, play_traces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.game.rules import GameStatus

BURN = "0x000000000000000000000000000000000000dEaD"
FEE_BPS = 300  # the fee token's cut of every move: 3 %
MAX = 2**256 - 1
CLAIM_SUBMITTED, CLAIM_ACCEPTED, CLAIM_REJECTED = 2, 3, 4
L = STAKE


TOKENS = ("MockStablecoin", "NoReturnToken", "FalseReturnToken", "fee")


@pytest.fixture(scope="session")
def token_factory(project, deployer):  # noqa: ANN001, ANN201
    """A token of each kind and a protocol on each, deployed once for the session (ape reverts
    what a test deploys); `make(kind)` returns (token, system)."""
    made: dict[str, tuple[object, System]] = {}
    for kind in TOKENS:
        if kind == "fee":
            token = deployer.deploy(project.FeeOnTransferToken, FEE_BPS)
        else:
            token = deployer.deploy(getattr(project, kind))
        made[kind] = (token, deploy_system(project, deployer, asset=token.address))
    return made.__getitem__


def fund(token, sys_: System, *who, amount: int = 10**24) -> None:  # noqa: ANN001
    """Mints `amount` to each of `who` and approves both contracts for all of it."""
    for a in who:
        token.mint(a.address, amount, sender=a)
        token.approve(sys_.market.address, MAX, sender=a)
        token.approve(sys_.stake.address, MAX, sender=a)


def after_fee(amount: int, fee_bps: int = FEE_BPS) -> int:
    return amount - amount * fee_bps // 10_000


def gross_for(net: int, fee_bps: int = FEE_BPS) -> int:
    """The least amount to send so that at least `net` arrives through a fee token."""
    g = net * 10_000 // (10_000 - fee_bps)
    while after_fee(g, fee_bps) < net:
        g += 1
    return g


def solvent(token, sys_: System) -> None:  # noqa: ANN001
    """Both invariants, exactly: the token balance of each contract is what it owes."""
    m, s = sys_.market, sys_.stake
    assert token.balanceOf(m.address) == m.totalEscrow() + m.totalBonds() + m.totalCredits()
    assert token.balanceOf(s.address) == s.totalFree() + s.totalLocked() + s.totalUnbonding()


def post_token_job(sys_: System, poster, trace: Trace, chain, amount: int = REWARD, **over) -> int:  # noqa: ANN001
    sys_.market.postToken(job_params(trace, chain, **over), "ipfs://spec", amount, sender=poster)
    return int(sys_.market.jobCount())


def liar_of(trace: Trace) -> Trace:
    return Trace(trace.program, trace.values, corrupt=(3, 7, 1))


def advance(chain, seconds: int) -> None:  # noqa: ANN001
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


# ------------------------------------------------------------------ the asset and its paths


def test_asset_is_fixed_at_deployment(token_factory, system):  # noqa: ANN001
    token, sys_ = token_factory("MockStablecoin")
    assert sys_.market.asset() == token.address == sys_.stake.asset()
    assert token.decimals() == 6 and token.symbol() == "mUSD"
    assert system.market.asset() == ETHER_ASSET == system.stake.asset()


def test_asset_must_be_a_contract(project, deployer, anyone):  # noqa: ANN001
    with ape.reverts(project.StakeManager.AssetHasNoCode, asset=anyone.address):
        deployer.deploy(project.StakeManager, anyone.address)


def test_ether_on_the_token_path_and_the_wrong_path_are_refused(
    token_factory, system, poster, provider, chain, honest_trace
):  # noqa: ANN001
    token, sys_ = token_factory("MockStablecoin")
    m, s = sys_.market, sys_.stake
    fund(token, sys_, poster, provider)
    p = job_params(honest_trace, chain)
    with ape.reverts(m.EtherOnTokenPath, sent=1):
        m.postToken(p, "x", REWARD, value=1, sender=poster)
    with ape.reverts(s.EtherOnTokenPath, sent=5):
        s.depositToken(STAKE, value=5, sender=provider)
    with ape.reverts(m.NotEtherMarket, asset=token.address):
        m.post(p, "x", value=REWARD, sender=poster)
    with ape.reverts(s.NotEtherMarket, asset=token.address):
        s.deposit(value=STAKE, sender=provider)
    with ape.reverts(m.ZeroAmount):
        m.postToken(p, "x", 0, sender=poster)
    # and the token functions of an ether market
    with ape.reverts(system.market.NotTokenMarket):
        system.market.postToken(p, "x", REWARD, sender=poster)
    with ape.reverts(system.market.NotTokenMarket):
        system.market.challengeToken(1, BOND, sender=poster)
    with ape.reverts(system.stake.NotTokenMarket):
        system.stake.depositToken(STAKE, sender=provider)
    assert token.balanceOf(m.address) == 0 and m.balance == 0 and s.balance == 0


def test_challenge_on_the_token_path_refuses_ether_and_a_short_bond(
    token_factory, poster, provider, challenger, chain, honest_trace
):  # noqa: ANN001
    token, sys_ = token_factory("MockStablecoin")
    m = sys_.market
    fund(token, sys_, poster, provider, challenger)
    job = post_token_job(sys_, poster, honest_trace, chain)
    sys_.stake.depositToken(STAKE, sender=provider)
    m.claim(job, sender=provider)
    submit(m, provider, job, honest_trace)
    with ape.reverts(m.EtherOnTokenPath, sent=BOND):
        m.challengeToken(job, BOND, value=BOND, sender=challenger)
    with ape.reverts(m.NotEtherMarket, asset=token.address):
        m.challenge(job, value=BOND, sender=challenger)
    with ape.reverts(m.WrongBond, jobId=job, sent=BOND - 1, required=BOND):
        m.challengeToken(job, BOND - 1, sender=challenger)
    # more than the bond is accepted and booked whole (a fee token's sender needs the margin)
    m.challengeToken(job, BOND + 7, sender=challenger)
    gid = int(sys_.game.gameCount())
    assert m.bondOfGame(gid) == BOND + 7 and m.totalBonds() == BOND + 7
    solvent(token, sys_)


# ------------------------------------------------------------------ fee on transfer


def test_fee_on_transfer_credits_only_what_arrived(
    token_factory, poster, provider, challenger, chain, honest_trace
):  # noqa: ANN001
    """Escrow, stake and bond are what arrived; a bond whose arrival falls short of the job's
    bond is refused; the market stays exactly solvent."""
    token, sys_ = token_factory("fee")
    m, s = sys_.market, sys_.stake
    fund(token, sys_, poster, provider, challenger)
    tx = m.postToken(job_params(honest_trace, chain), "x", REWARD, sender=poster)
    job = int(m.jobCount())
    assert tx.events.filter(m.JobPosted)[0].reward == after_fee(REWARD)
    assert m.getJob(job).reward == after_fee(REWARD) == m.totalEscrow()
    s.depositToken(gross_for(STAKE), sender=provider)
    assert s.freeStake(provider) == after_fee(gross_for(STAKE)) >= STAKE
    m.claim(job, sender=provider)
    submit(m, provider, job, honest_trace)
    with ape.reverts(m.WrongBond, jobId=job, sent=after_fee(BOND), required=BOND):
        m.challengeToken(job, BOND, sender=challenger)
    m.challengeToken(job, gross_for(BOND), sender=challenger)
    assert m.bondOfGame(int(sys_.game.gameCount())) == after_fee(gross_for(BOND))
    solvent(token, sys_)


def test_a_reward_that_arrives_as_nothing_is_refused(
    project, deployer, poster, chain, honest_trace
):  # noqa: ANN001
    token = deployer.deploy(project.FeeOnTransferToken, 10_000)  # takes everything
    sys_ = deploy_system(project, deployer, asset=token.address)
    fund(token, sys_, poster)
    with ape.reverts(sys_.market.ZeroAmount):
        post_token_job(sys_, poster, honest_trace, chain, amount=REWARD)
    with ape.reverts(sys_.stake.ZeroAmount):
        sys_.stake.depositToken(STAKE, sender=poster)


def test_fee_token_liar_caught_slashes_what_arrived_and_everyone_withdraws_to_zero(
    token_factory, poster, players, chain, honest_trace
):  # noqa: ANN001
    """The slash from the stake manager loses its fee on the way: the bounty is half of what
    arrived and the rest burned, never half of the nominal backing (which would owe more than the
    market holds). After every withdrawal the market holds exactly nothing."""
    token, sys_ = token_factory("fee")
    m, s = sys_.market, sys_.stake
    provider, challenger, anyone = players
    fund(token, sys_, poster, provider, challenger)
    liar = liar_of(honest_trace)
    job = post_token_job(sys_, poster, liar, chain)
    s.depositToken(gross_for(3 * L), sender=provider)
    m.claim(job, sender=provider)
    claim_id = int(m.claimCount())
    submit(m, provider, job, liar)
    m.challengeToken(job, gross_for(BOND), sender=challenger)
    gid = int(sys_.game.gameCount())
    assert m.backingOfGame(gid) == L
    burned0 = token.balanceOf(BURN)
    r = play_traces(sys_.game, gid, liar, honest_trace, players, chain)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts
    assert m.getClaim(claim_id).state == CLAIM_REJECTED
    backing_in = after_fee(L)
    bounty = backing_in * 5000 // 10_000
    bond = after_fee(gross_for(BOND))
    assert m.credits(challenger) == bond + bounty
    # burned: the rest of the backing's arrival plus the whole lock's arrival; dEaD gets them
    # less the fee of that last move
    burned = backing_in - bounty + after_fee(L)
    assert m.totalBurned() == burned
    assert token.balanceOf(BURN) - burned0 == after_fee(burned)
    solvent(token, sys_)
    # everyone leaves: the poster cancels the reopened job, all credits are withdrawn
    m.cancel(job, sender=poster)
    for who in (poster, challenger):
        before = token.balanceOf(who.address)
        owed = m.credits(who)
        m.withdraw(sender=who)
        assert token.balanceOf(who.address) - before == after_fee(owed)
    assert m.totalEscrow() == m.totalBonds() == m.totalCredits() == 0
    assert token.balanceOf(m.address) == 0
    solvent(token, sys_)


# ------------------------------------------------------------------ tokens that fail


@pytest.mark.parametrize("reverting", [False, True], ids=["returns-false", "reverts"])
def test_a_failing_token_reverts_with_the_custom_error_and_keeps_the_books(
    token_factory, poster, provider, anyone, chain, honest_trace, reverting
):  # noqa: ANN001
    token, sys_ = token_factory("FalseReturnToken")
    m, s = sys_.market, sys_.stake
    fund(token, sys_, poster, provider)
    job = post_token_job(sys_, poster, honest_trace, chain)
    s.depositToken(STAKE, sender=provider)
    m.claim(job, sender=provider)
    submit(m, provider, job, honest_trace)
    advance(chain, WINDOW + 1)
    m.finalize(job, sender=anyone)
    token.setFailing(True, reverting, sender=anyone)
    with ape.reverts(
        m.TokenTransferFailed, token=token.address, party=poster.address, amount=REWARD
    ):
        post_token_job(sys_, poster, honest_trace, chain)
    with ape.reverts(s.TokenTransferFailed, token=token.address, party=provider.address, amount=1):
        s.depositToken(1, sender=provider)
    with ape.reverts(
        m.TokenTransferFailed, token=token.address, party=provider.address, amount=REWARD
    ):
        m.withdraw(sender=provider)
    assert m.credits(provider) == REWARD  # nothing was paid, nothing is forgotten
    solvent(token, sys_)
    token.setFailing(False, False, sender=anyone)
    before = token.balanceOf(provider.address)
    m.withdraw(sender=provider)
    assert token.balanceOf(provider.address) - before == REWARD
    solvent(token, sys_)


def test_a_token_returning_nothing_works_through_a_whole_honest_job(
    token_factory, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    """USDT-style: transfer and transferFrom return no value; success is no revert."""
    token, sys_ = token_factory("NoReturnToken")
    m, s = sys_.market, sys_.stake
    fund(token, sys_, poster, provider)
    job = post_token_job(sys_, poster, honest_trace, chain)
    s.depositToken(STAKE, sender=provider)
    m.claim(job, sender=provider)
    submit(m, provider, job, honest_trace)
    advance(chain, WINDOW + 1)
    m.finalize(job, sender=anyone)
    before = token.balanceOf(provider.address)
    m.withdraw(sender=provider)
    assert token.balanceOf(provider.address) - before == REWARD
    s.requestUnbond(STAKE, sender=provider)
    advance(chain, int(s.UNBONDING_DELAY()) + 1)
    s.withdraw(sender=provider)
    assert token.balanceOf(provider.address) - before == REWARD + STAKE
    solvent(token, sys_)
    # a pull beyond the allowance still fails loudly (the token reverts, no return value)
    token.approve(m.address, 0, sender=poster)
    with ape.reverts(m.TokenTransferFailed):
        post_token_job(sys_, poster, honest_trace, chain)


# ------------------------------------------------------------------ callbacks (ERC-777-like)


def test_a_token_callback_cannot_reenter_while_a_pull_is_measured(
    project, deployer, poster, provider, anyone, chain, honest_trace
):  # noqa: ANN001
    """The poster's send hook runs between the market's two balance reads. It tries a second
    post (which would arrive inside the first's window, and be counted twice) and an `expire`
    (whose slash would arrive and be counted as the reward): both hit the guard; the reward is
    exactly what was sent. Its receive hook tries to withdraw twice."""
    token = deployer.deploy(project.CallbackToken)
    sys_ = deploy_system(project, deployer, asset=token.address)
    m, s = sys_.market, sys_.stake
    attacker = deployer.deploy(project.TokenReentrant, token.address)
    token.mint(attacker.address, 10 * REWARD, sender=anyone)
    fund(token, sys_, poster, provider)
    # a claim past its deadline that anyone may expire (its slash would flow in)
    stale = post_token_job(sys_, poster, honest_trace, chain)
    s.depositToken(STAKE, sender=provider)
    m.claim(stale, sender=provider)
    advance(chain, EXECUTE + 1)
    p = job_params(honest_trace, chain)
    for payload in (
        m.postToken.encode_input(p, "again", REWARD),
        m.expire.encode_input(stale),
    ):
        attacker.arm(m.address, payload, sender=anyone)
        attacker.post(m.address, p, REWARD, sender=anyone)
        job = int(m.jobCount())
        assert m.getJob(job).reward == REWARD
        assert attacker.attempts() >= 1 and attacker.succeeded() == 0
        assert bytes(attacker.lastError())[:4] == bytes.fromhex("ab143c06")  # Reentrancy()
        solvent(token, sys_)
        attacker.exec(m.address, m.cancel.encode_input(job), sender=anyone)  # refund credited
    attacker.arm(m.address, m.withdraw.encode_input(), sender=anyone)
    held = token.balanceOf(attacker.address)
    attacker.withdrawFrom(m.address, sender=anyone)
    assert token.balanceOf(attacker.address) - held == 2 * REWARD and attacker.succeeded() == 0
    assert m.credits(attacker) == 0
    solvent(token, sys_)


# ------------------------------------------------------------------ whole lifecycles on a stablecoin


def test_stablecoin_lifecycle_honest_job_griefer_and_caught_liar(
    token_factory, poster, players, chain, honest_trace
):  # noqa: ANN001
    """Two jobs on the 6-decimal stablecoin: an honest provider beats a griefer (bond to the
    provider, backing released) and is paid; a liar is caught (bond + half the backing to the
    challenger, the rest and the whole lock burned at 0x...dEaD). Every balance checked to the
    unit, and both contracts end holding exactly what they owe."""
    token, sys_ = token_factory("MockStablecoin")
    m, s = sys_.market, sys_.stake
    provider, challenger, anyone = players
    fund(token, sys_, poster, provider, challenger)
    usd = 10**6
    reward, bond = 25 * usd, 3 * usd
    s.depositToken(4 * L, sender=provider)
    # 1. honest provider, griefing challenger
    job = post_token_job(sys_, poster, honest_trace, chain, amount=reward, challengerBond=bond)
    m.claim(job, sender=provider)
    submit(m, provider, job, honest_trace)
    m.challengeToken(job, bond, sender=challenger)
    gid = int(sys_.game.gameCount())
    r = play_traces(sys_.game, gid, honest_trace, honest_trace, players, chain)
    assert r.status == GameStatus.PROVIDER_WON and not r.reverts
    advance(chain, WINDOW + 1)
    m.finalize(job, sender=anyone)
    assert m.credits(provider) == reward + bond and s.freeStake(provider) == 4 * L
    solvent(token, sys_)
    # 2. a liar caught
    liar = liar_of(honest_trace)
    job2 = post_token_job(sys_, poster, liar, chain, amount=reward, challengerBond=bond)
    m.claim(job2, sender=provider)
    submit(m, provider, job2, liar)
    m.challengeToken(job2, bond, sender=challenger)
    gid2 = int(sys_.game.gameCount())
    dead0 = token.balanceOf(BURN)
    r = play_traces(sys_.game, gid2, liar, honest_trace, players, chain)
    assert r.status == GameStatus.CHALLENGER_WON and not r.reverts
    assert m.credits(challenger) == bond + L // 2
    assert token.balanceOf(BURN) - dead0 == L // 2 + L
    assert s.freeStake(provider) == 2 * L and s.totalLocked() == 0
    solvent(token, sys_)
    m.cancel(job2, sender=poster)
    paid = {}
    for who in (provider, challenger, poster):
        before = token.balanceOf(who.address)
        m.withdraw(sender=who)
        paid[who.address] = token.balanceOf(who.address) - before
    assert paid == {
        provider.address: reward + bond,
        challenger.address: bond + L // 2,
        poster.address: reward,
    }
    s.requestUnbond(2 * L, sender=provider)
    advance(chain, int(s.UNBONDING_DELAY()) + 1)
    s.withdraw(sender=provider)
    assert token.balanceOf(m.address) == 0 and token.balanceOf(s.address) == 0
    solvent(token, sys_)


def test_token_path_gas_next_to_the_ether_path(
    token_factory, system, poster, provider, challenger, chain, honest_trace
):  # noqa: ANN001
    """post, challenge and withdraw, both paths, same job (printed; run with -s to read them).
    The token path adds a transferFrom (or transfer) and two balance reads: bounded here."""
    token, sys_ = token_factory("MockStablecoin")
    fund(token, sys_, poster, provider, challenger)
    gas: dict[str, dict[str, int]] = {}
    for name, sy in (("ether", system), ("token", sys_)):
        m, s = sy.market, sy.stake
        p = job_params(honest_trace, chain)
        # the second post is measured: the first also pays the market's fresh balance slot
        for _ in range(2):
            if name == "ether":
                tx_post = m.post(p, "ipfs://spec", value=REWARD, sender=poster)
            else:
                tx_post = m.postToken(p, "ipfs://spec", REWARD, sender=poster)
        if name == "ether":
            s.deposit(value=STAKE, sender=provider)
        else:
            s.depositToken(STAKE, sender=provider)
        job = int(m.jobCount())
        m.claim(job, sender=provider)
        submit(m, provider, job, honest_trace)
        if name == "ether":
            tx_ch = m.challenge(job, value=BOND, sender=challenger)
        else:
            tx_ch = m.challengeToken(job, BOND, sender=challenger)
        m.cancel(
            post_token_job(sy, poster, honest_trace, chain)
            if name == "token"
            else _post_eth(sy, poster, honest_trace, chain),
            sender=poster,
        )
        tx_wd = m.withdraw(sender=poster)
        gas[name] = {
            "post": tx_post.gas_used,
            "challenge": tx_ch.gas_used,
            "withdraw": tx_wd.gas_used,
        }
    print("\ngas (ether -> token):", {k: (gas["ether"][k], gas["token"][k]) for k in gas["ether"]})
    for k in gas["ether"]:
        assert gas["token"][k] - gas["ether"][k] < 30_000, (k, gas)


def _post_eth(sys_: System, poster, trace: Trace, chain) -> int:  # noqa: ANN001
    sys_.market.post(job_params(trace, chain), "ipfs://spec", value=REWARD, sender=poster)
    return int(sys_.market.jobCount())


# ------------------------------------------------------------------ solvency over random sequences

ACTIONS = (
    "post",
    "stake",
    "claim",
    "submit_honest",
    "submit_liar",
    "challenge",
    "play",
    "finalize",
    "expire",
    "cancel",
    "withdraw",
    "wait",
)


@pytest.mark.evm_only  # random sequences: the EVM alone decides them (115 s on anvil)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seq=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 3)), min_size=4, max_size=14)
)
def test_solvency_holds_over_random_sequences_on_a_fee_token(
    token_factory, accounts, chain, honest_trace, seq
):  # noqa: ANN001
    """Random actions by four accounts on the fee-on-transfer market, each either done or
    refused; after every one both contracts hold exactly what they owe. The fee makes every
    pull, payout and slash lose 3 % in flight, so any booking of a nominal amount instead of
    the arrived one breaks the equality."""
    token, sys_ = token_factory("fee")
    who = [accounts[i] for i in range(1, 5)]
    snap = chain.snapshot()
    try:
        fund(token, sys_, *who)
        liar = liar_of(honest_trace)
        book = Book()
        for action, i in seq:
            a = who[i]
            try:
                _act(sys_, action, a, who, chain, honest_trace, liar, book)
            except ape.exceptions.ContractLogicError:
                pass  # refused: the books must not have moved
            solvent(token, sys_)
    finally:
        chain.restore(snap)


@dataclass
class Book:
    """What the random sequence needs to play its games: who claimed and what it submitted."""

    claimer: dict[int, object] = field(default_factory=dict)  # claim id -> account
    result: dict[int, Trace] = field(default_factory=dict)  # claim id -> submitted trace
    games: list[tuple[int, Trace, object, object]] = field(default_factory=list)


def _act(sys_: System, action: str, a, who, chain, honest: Trace, liar: Trace, book: Book) -> None:  # noqa: ANN001, PLR0913
    m, s = sys_.market, sys_.stake
    last = int(m.jobCount())
    if action == "post":
        post_token_job(sys_, a, honest, chain, amount=REWARD + 1234)
    elif action == "stake":
        s.depositToken(gross_for(L), sender=a)
    elif action == "claim":
        m.claim(last, sender=a)
        book.claimer[int(m.claimCount())] = a
    elif action in ("submit_honest", "submit_liar"):
        trace = honest if action == "submit_honest" else liar
        submit(m, a, last, trace)
        book.result[int(m.getJob(last).currentClaim)] = trace
    elif action == "challenge":
        claim_id = int(m.getJob(last).currentClaim)
        m.challengeToken(last, gross_for(BOND), sender=a)
        gid = int(sys_.game.gameCount())
        book.games.append((gid, book.result[claim_id], book.claimer[claim_id], a))
    elif action == "play" and book.games:
        gid, trace, prov, chal = book.games.pop(0)
        anyone = next(x for x in who if x not in (prov, chal))
        play_traces(sys_.game, gid, trace, honest, (prov, chal, anyone), chain)
    elif action == "finalize":
        advance(chain, WINDOW + 1)
        m.finalize(last, sender=a)
    elif action == "expire":
        advance(chain, EXECUTE + 1)
        m.expire(last, sender=a)
    elif action == "cancel":
        m.cancel(last, sender=a)
    elif action == "withdraw":
        m.withdraw(sender=a)
    elif action == "wait":
        advance(chain, 600)
