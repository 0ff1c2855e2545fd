"""The roles on a market paid in a token (docs/protocol.md 6.7): the mock 6-decimal stablecoin.
The poster approves and posts, the provider approves and stakes, the watchtower approves and
bonds, every payout is in the token. The provider weighs bonds against gas only with a price of
the token in ETH (--asset-price-eth); without one it skips the token market's jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from roles_support import TERMS, advance, drive, post_tiny

from node.chain.abi import build_artifacts
from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.contracts.token import ETHER_ADDRESS
from node.cli.reports import totals_lines
from node.readable import eth, in_asset
from node.roles.context import RoleContext
from node.roles.provider import Provider, ProviderPolicy
from node.roles.safety import DEVNET_FLOORS
from node.roles.watchtower import Watchtower
from node.storage.local import LocalStore
from poc_lab.adversary import ProviderCheat, cheating_provider

ROOT = Path(__file__).resolve().parents[3]
MINTED = 10**30  # base units of mUSD each account gets
STAKED = 10**18  # the provider's stake (same numbers as the ether suite, in mUSD units)
# ETH per whole mUSD that makes one base unit worth one wei: the ether suite's safety verdicts
UNIT_PRICE = 10**6 / 10**18


@pytest.fixture(scope="session")
def token_market(project: Any, accounts: Any) -> tuple[Any, dict[str, str | None], dict[str, Any]]:
    deployer = accounts[0]
    token = deployer.deploy(project.MockStablecoin)
    stake = deployer.deploy(project.StakeManager, token.address)
    step = deployer.deploy(project.TensorStep)
    floors = DEVNET_FLOORS
    market = deployer.deploy(project.JobMarket, stake.address, floors.min_clock, floors.min_bond)
    game = deployer.deploy(project.DisputeGame, market.address, step.address, 4)
    market.setGame(game.address, sender=deployer)
    stake.setMarket(market.address, sender=deployer)
    for i in range(1, 5):
        token.mint(accounts[i].address, MINTED, sender=deployer)
    built = build_artifacts(ROOT / ".build")
    abis = {n: built[n].abi for n in ("JobMarket", "StakeManager", "DisputeGame", "TensorStep")}
    addresses: dict[str, str | None] = {
        "job_market": market.address,
        "stake_manager": stake.address,
        "dispute_game": game.address,
    }
    return token, addresses, abis


@pytest.fixture
def make_token_ctx(
    chain: Any, accounts: Any, tmp_path: Path, token_market: Any
) -> Iterator[Callable[[int, str], RoleContext]]:
    _, addresses, abis = token_market
    store = LocalStore(tmp_path / "store")
    made: list[RoleContext] = []

    def make(index: int, name: str) -> RoleContext:
        acct = Account.from_key(accounts[index].private_key)
        w3 = chain.provider.web3
        ctx = RoleContext.build(w3, acct, store, tmp_path / name, addresses, abis)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def _provider(
    make: Callable[[int, str], RoleContext], cheat: ProviderCheat | None = None
) -> Provider:
    policy = ProviderPolicy(asset_price_eth=UNIT_PRICE)
    ctx = make(2, "provider")
    p = Provider(ctx, policy) if cheat is None else cheating_provider(ctx, cheat, policy=policy)
    p.stake(STAKED)
    return p


def test_the_deployment_reads_the_token(make_token_ctx: Any, token_market: Any) -> None:
    token, _, _ = token_market
    d = make_token_ctx(1, "poster").deployment
    assert d.asset.symbol == "mUSD" and d.asset.decimals == 6
    assert d.asset.address == token.address and not d.asset.is_ether
    assert d.asset.show(2_500_000) == "2.5 mUSD"
    assert d.asset.from_ether_scale(25 * 10**17) == 2_500_000
    with pytest.raises(ValueError, match="more than 6 decimals"):
        d.asset.from_ether_scale(1)


def test_honest_job_on_the_token_market_pays_in_the_token(
    chain: Any, make_token_ctx: Any, token_market: Any
) -> None:
    token, _, _ = token_market
    poster = make_token_ctx(1, "poster")
    posted_from = token.balanceOf(poster.address)
    job_id = post_tiny(poster)
    d = poster.deployment
    assert token.balanceOf(poster.address) == posted_from - TERMS.reward
    assert d.market.job(job_id).reward == TERMS.reward
    provider = _provider(make_token_ctx)
    assert d.stake.free_stake(provider.ctx.address) == STAKED
    tower = Watchtower(make_token_ctx(3, "tower"))
    held = token.balanceOf(provider.ctx.address)
    provider.tick()
    tower.tick()
    assert tower.status()["claims"][1]["stage"] == "correct"
    advance(chain, TERMS.challenge_window + 1)
    drive(chain, [provider, tower], lambda: d.market.job(job_id).state == JobState.FINALIZED)
    provider.tick()  # withdraws the reward, in mUSD
    assert d.market.credits(provider.ctx.address) == 0
    assert token.balanceOf(provider.ctx.address) == held + TERMS.reward
    # the ledger keeps the reward in mUSD and the gas in ETH, and nets each apart
    earnings = provider.ledger.summary()
    mine = token.address.lower()
    assert earnings["assets"][mine] == {"symbol": "mUSD", "decimals": 6}
    in_token, in_eth = earnings["totals"][mine], earnings["totals"][ETHER_ADDRESS]
    assert (in_token["reward"], in_token["gas"]) == (TERMS.reward, 0)
    assert in_token["net"] == TERMS.reward  # no ether gas taken from a token amount
    assert in_token["withdrawn"] == TERMS.reward
    assert in_eth["earned"] == 0 and in_eth["gas"] > 0 and in_eth["net"] == -in_eth["gas"]
    assert earnings["jobs"][job_id][mine]["reward"] == TERMS.reward
    lines = "\n".join(totals_lines(earnings))
    reward = in_asset(TERMS.reward, "mUSD", 6)
    assert f"earned      {reward} (reward {reward})" in lines
    assert f"net         +{reward} over" in lines
    assert f"net         {eth(-in_eth['gas'], sign=True)} over" in lines
    assert f"gas         {eth(in_eth['gas'])} in" in lines
    assert f"withdrawn   {reward} of market credits" in lines
    m = d.market
    assert token.balanceOf(m.address) == (
        m.read("totalEscrow") + m.read("totalBonds") + m.read("totalCredits")
    )


def test_a_liar_is_caught_on_the_token_market(
    chain: Any, make_token_ctx: Any, token_market: Any
) -> None:
    token, _, _ = token_market
    job_id = post_tiny(make_token_ctx(1, "poster"))
    provider = _provider(make_token_ctx, ProviderCheat("op"))
    provider.tick()
    d = provider.ctx.deployment
    claim_id = d.market.job(job_id).current_claim
    tower = Watchtower(make_token_ctx(3, "tower"))
    tower_held = token.balanceOf(tower.ctx.address)
    burn = d.market.read("BURN")
    burned_before = token.balanceOf(burn)
    drive(chain, [provider, tower], lambda: d.market.claim(claim_id).state == ClaimState.REJECTED)
    lock = TERMS.required_stake
    backing = min(lock, STAKED - lock)
    bounty = backing // 2
    (game_id,) = d.market.games_of_claim(claim_id)
    settled = d.market.game_settled(game_id)
    assert settled is not None and not settled.provider_won
    assert (settled.winner, settled.bond, settled.bounty) == (
        tower.ctx.address,
        TERMS.challenger_bond,
        bounty,
    )
    assert token.balanceOf(burn) - burned_before == lock + backing - bounty
    tower.tick()  # withdraws bond and bounty, in mUSD
    assert token.balanceOf(tower.ctx.address) == tower_held + bounty  # the bond came back
    assert d.market.credits(tower.ctx.address) == 0
    provider.tick()
    mine = token.address.lower()
    won = tower.ledger.summary()["totals"]
    assert (won[mine]["bounty"], won[mine]["net"]) == (bounty, bounty)
    assert won[ETHER_ADDRESS]["net"] == -won[ETHER_ADDRESS]["gas"] < 0
    lost = provider.ledger.summary()["totals"][mine]
    assert (lost["slashed"], lost["backing_lost"], lost["net"]) == (lock, backing, -lock - backing)


def test_without_a_price_the_provider_skips_token_jobs_and_says_why(
    make_token_ctx: Any, caplog: Any
) -> None:
    job_id = post_tiny(make_token_ctx(1, "poster"))
    ctx = make_token_ctx(2, "provider")
    provider = Provider(ctx)  # no asset_price_eth
    provider.stake(STAKED)
    with caplog.at_level("WARNING"):
        provider.tick()
        provider.tick()
    d = ctx.deployment
    assert d.market.job(job_id).state == JobState.OPEN  # not claimed
    rec = provider.record(job_id)
    note = (rec.note if rec is not None else None) or ""
    assert "no asset price is set" in note and "--asset-price-eth" in note
    said = [r.getMessage() for r in caplog.records if "no asset price" in r.getMessage()]
    assert len(said) == 1  # told once, not on every tick


def test_deploy_with_a_mock_token_or_an_address(make_token_ctx: Any, accounts: Any) -> None:
    """`--token mock|ADDRESS|eth` as `poc deploy` and `poc devnet up` resolve it."""
    from node.devnet.deploy import MOCK_PRICE_ETH, deploy_protocol, resolve_asset
    from node.devnet.errors import DevnetError
    from node.roles.safety import DEVNET_FLOORS

    ETHER_ASSET = "0x" + "00" * 20
    ctx = make_token_ctx(0, "deployer")
    poster = accounts[1].address
    mock = resolve_asset(ctx.sender, "mock", mint_to=(poster,))
    with pytest.raises(DevnetError, match="needs the token's price"):
        deploy_protocol(ctx.sender, asset=mock)
    d = deploy_protocol(ctx.sender, asset=mock, asset_price_eth=MOCK_PRICE_ETH)
    # the bond floor, 0.0018 ETH, in mUSD at 0.0003 ETH each: 6 mUSD (rounded up: exact here)
    assert DEVNET_FLOORS.min_bond == 18 * 10**14
    assert d.floors is not None and d.floors.min_bond == 6_000_000
    bound = RoleContext.build(ctx.w3, ctx.account, ctx.store, ctx.data_dir / "x", d.addresses)
    assert bound.deployment.asset.symbol == "mUSD" and bound.deployment.asset.address == mock
    assert bound.deployment.balance(poster) == 1_000_000 * 10**6
    assert bound.deployment.market.min_bond() == 6_000_000
    assert resolve_asset(ctx.sender, mock) == mock
    assert resolve_asset(ctx.sender, None) == ETHER_ASSET == resolve_asset(ctx.sender, "eth")
    with pytest.raises(DevnetError, match="has no code"):
        resolve_asset(ctx.sender, poster)
    with pytest.raises(DevnetError, match="neither"):
        resolve_asset(ctx.sender, "usdt")
    bound.close()


def test_post_warnings_weigh_the_bond_in_the_token_only_with_a_price(make_token_ctx: Any) -> None:
    from node.roles.client import JobClient
    from node.roles.examples import tiny_mlp

    spec, _ = tiny_mlp()
    client = JobClient(make_token_ctx(1, "poster"))
    small = dataclasses.replace(TERMS, challenger_bond=2 * 10**15)  # 2e15 units = 2e9 mUSD
    unpriced = client.warnings(spec, small)
    assert any("no --asset-price-eth" in w for w in unpriced)
    assert not any("challenger bond" in w for w in unpriced)
    # at 1e-12 ETH per mUSD a unit is a wei: 2e15 wei pays the defence; at a millionth of
    # that it does not, and the warning says so
    assert not any(
        "challenger bond" in w for w in client.warnings(spec, small, asset_price_eth=UNIT_PRICE)
    )
    cheap = client.warnings(spec, small, asset_price_eth=UNIT_PRICE / 10**6)
    assert any(w.startswith("honest providers refuse: challenger bond") for w in cheap)


def test_job_status_shows_amounts_in_the_token(make_token_ctx: Any) -> None:
    from node.cli.job_cmds import _status_lines
    from node.roles.client import JobClient

    poster = make_token_ctx(1, "poster")
    job_id = post_tiny(poster)
    st = JobClient(poster).status(job_id)
    assert st["asset"]["symbol"] == "mUSD" and st["asset"]["decimals"] == 6
    head = _status_lines(st)[:2]
    reward = TERMS.reward / 10**6  # base units of mUSD shown as whole tokens
    assert f"reward {reward:f}".rstrip("0").rstrip(".") + " mUSD" in head[0]
    assert "ETH" not in " ".join(head)
