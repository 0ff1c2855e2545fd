"""Issue 11, P6: a poster that pays gets its result.

The attack: a provider submits the correct output root (no game can catch it) but stores a
corrupted output blob, or none, under its locator; it used to be paid in full while the poster's
`poc job result` failed with OutputMismatch for good. Now the poster demands the output during
the challenge window, the provider must publish it on chain within a clock (an honest node does
at once, also across a restart), and a provider that does not is rejected by `outputTimeout`
(its lock burned), after which the poster cancels and gets its escrow back. The client reads a
published output from the chain; the watchtower records whether each blob matches its root."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import ClaimState, JobState, RejectCause
from node.roles.client import JobClient
from node.roles.context import RoleContext
from node.roles.errors import JobNotReady
from node.roles.examples import tiny_mlp
from node.roles.outputs import DemandRefused, OutputUnavailable
from node.roles.provider import Provider
from node.roles.records import ProviderStage, WatchStage
from node.roles.watchtower import Watchtower
from node.trace.lazy import provider_for_spec
from poc_lab.adversary import HidingProvider, ProviderCheat, cheating_provider

POSTER, PROVIDER, TOWER, LIAR, STRANGER = 1, 2, 3, 4, 5


def _expected(seed: int = 0) -> Any:
    spec, data = tiny_mlp(seed=seed)
    return provider_for_spec(spec, data).values(spec.program.output_slot)


def _staked(provider: Provider) -> Provider:
    provider.stake(ETHER)
    return provider


def _submitted(
    make_ctx: Any, provider: Provider, seed: int = 0, client: JobClient | None = None
) -> tuple[JobClient, int, int]:
    """A tiny job posted by POSTER, claimed and submitted by `provider` in one tick."""
    client = client or JobClient(make_ctx(POSTER, "poster"))
    job_id = post_tiny(client.ctx, seed=seed)
    provider.tick()
    claim_id = client.ctx.deployment.market.job(job_id).current_claim
    assert client.ctx.deployment.market.claim(claim_id).state == ClaimState.SUBMITTED
    return client, job_id, claim_id


def _reopened(ctx: RoleContext) -> RoleContext:
    """A new context of the same account on the same data folder (a restarted daemon)."""
    return RoleContext.build(ctx.w3, ctx.account, ctx.store, ctx.data_dir, ctx.deployment.addresses)


def _finalize(chain: Any, roles: list[Any], client: JobClient, job_id: int) -> None:
    advance(chain, TERMS.challenge_window + 1)
    market = client.ctx.deployment.market
    drive(chain, roles, lambda: market.job(job_id).state == JobState.FINALIZED)


def test_honest_provider_publishes_only_on_demand_and_the_claim_finalizes(
    chain: Any, make_ctx: Any
) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, job_id, claim_id = _submitted(make_ctx, provider)
    market = client.ctx.deployment.market
    provider.tick()
    assert market.output_published(claim_id) is None  # never unasked: it costs gas

    due = client.demand_output(job_id)
    assert due == client.ctx.deployment.now() + TERMS.clock
    assert market.claim(claim_id).output_due == due
    provider.tick()  # publishes at once, well before `due`
    claim = market.claim(claim_id)
    assert claim.output_published and claim.output_due == 0
    published = market.output_published(claim_id)
    assert published is not None and published.leaf_size == 32
    assert np.array_equal(np.frombuffer(published.data, np.int8).reshape(3, 32), _expected())
    rec = provider.record(job_id)
    assert rec is not None and rec.output_published and rec.output_due == due
    with pytest.raises(DemandRefused, match="already published"):
        client.demand_output(job_id)

    _finalize(chain, [provider], client, job_id)
    assert provider.record(job_id).stage == ProviderStage.DONE
    result = client.result(job_id)
    assert result.source == "store" and np.array_equal(result.output, _expected())


def test_an_undemanded_claim_is_never_published(chain: Any, make_ctx: Any) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, job_id, claim_id = _submitted(make_ctx, provider)
    _finalize(chain, [provider], client, job_id)
    assert client.ctx.deployment.market.output_published(claim_id) is None
    assert provider.record(job_id).output_published is None


def test_withholding_provider_is_rejected_and_the_poster_gets_its_escrow_back(
    chain: Any, make_ctx: Any
) -> None:
    """The attack replayed: correct root, corrupted blob, no publication on demand."""
    hider = _staked(HidingProvider(make_ctx(PROVIDER, "hider"), withhold=True))
    client, job_id, claim_id = _submitted(make_ctx, hider)
    d = client.ctx.deployment
    lock = d.market.claim(claim_id).lock

    # during the window the poster learns that the blob is wrong, and what to do
    with pytest.raises(OutputUnavailable, match=f"poc job demand-output {job_id}") as caught:
        client.result(job_id)
    assert "hashes to" in str(caught.value)
    due = client.demand_output(job_id)
    with pytest.raises(DemandRefused, match="already demanded"):
        client.demand_output(job_id)
    hider.tick()  # withholds
    assert not d.market.claim(claim_id).output_published
    with pytest.raises(OutputUnavailable, match=f"poc job output-timeout {job_id}"):
        client.result(job_id)
    with pytest.raises(DemandRefused, match="may still publish it"):
        client.output_timeout(job_id)
    # the window closes meanwhile: finalize is refused while the demand is pending
    advance(chain, TERMS.challenge_window + 1)
    hider.tick()
    assert d.market.claim(claim_id).state == ClaimState.SUBMITTED

    advance(chain, max(0, due - d.now()) + 1)
    assert client.output_timeout(job_id) == claim_id
    assert d.market.claim(claim_id).state == ClaimState.REJECTED
    rejected = d.market.claim_rejected(claim_id)
    assert rejected is not None and rejected.cause == RejectCause.OUTPUT_WITHHELD
    assert rejected.slashed == lock
    job = d.market.job(job_id)
    assert job.state == JobState.OPEN and job.reopens_at > d.now()
    assert d.stake.free_stake(hider.ctx.address) == ETHER - TERMS.required_stake

    hider.tick()
    rec = hider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.LOST
    assert "not published in time" in (rec.reason or "")

    client.cancel(job_id)  # while the job cools down (P5)
    assert d.market.job(job_id).state == JobState.CANCELLED
    assert client.withdraw() == TERMS.reward


def test_the_client_falls_back_to_the_output_published_on_chain(
    chain: Any, make_ctx: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from node.cli import job_cmds

    hider = _staked(HidingProvider(make_ctx(PROVIDER, "hider"), blob="missing"))
    client, job_id, claim_id = _submitted(make_ctx, hider)
    stranger = JobClient(make_ctx(STRANGER, "stranger"))
    with pytest.raises(DemandRefused, match="only the poster"):
        stranger.demand_output(job_id)

    monkeypatch.setattr(job_cmds, "_client", lambda *_a, **_k: client)
    demanded = CliRunner().invoke(job_cmds.job, ["demand-output", str(job_id)])
    assert demanded.exit_code == 0, demanded.output
    assert "must publish it by chain time" in demanded.output
    hider.tick()  # publishes the true output it kept
    with pytest.raises(JobNotReady, match="published on chain"):
        client.result(job_id)

    _finalize(chain, [hider], client, job_id)
    result = client.result(job_id)
    assert result.source == "chain" and np.array_equal(result.output, _expected())
    assert result.note is not None and "output" in result.note
    out = tmp_path / "y.npy"
    shown = CliRunner().invoke(job_cmds.job, ["result", str(job_id), "--out", str(out), "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"source": "chain"' in shown.output
    assert np.allclose(np.load(out), _expected().astype(np.float64))


def test_demanding_after_the_window_is_refused_in_words(chain: Any, make_ctx: Any) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, job_id, _ = _submitted(make_ctx, provider)
    advance(chain, TERMS.challenge_window + 1)
    with pytest.raises(DemandRefused, match="too late"):
        client.demand_output(job_id)


def test_provider_restarted_after_seeing_the_demand_still_publishes(
    chain: Any, make_ctx: Any, monkeypatch: Any
) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, job_id, claim_id = _submitted(make_ctx, provider)
    due = client.demand_output(job_id)

    def killed(*_a: Any, **_k: Any) -> None:
        raise KeyboardInterrupt  # the daemon dies before sending

    monkeypatch.setattr(provider, "publish_output", killed)
    with pytest.raises(KeyboardInterrupt):
        provider.tick()
    rec = provider.record(job_id)
    assert rec is not None and rec.output_due == due and not rec.output_published
    assert not client.ctx.deployment.market.claim(claim_id).output_published

    restarted = Provider(_reopened(provider.ctx))
    restarted.tick()
    assert client.ctx.deployment.market.claim(claim_id).output_published
    assert restarted.record(job_id).output_published


def test_provider_killed_after_publishing_does_not_publish_twice(
    chain: Any, make_ctx: Any, monkeypatch: Any
) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, job_id, claim_id = _submitted(make_ctx, provider)
    client.demand_output(job_id)
    send = provider.ctx.send

    def send_then_die(request: Any) -> Any:
        receipt = send(request)
        if request.description == "publishOutput":
            raise KeyboardInterrupt  # mined, but the daemon dies before recording it
        return receipt

    monkeypatch.setattr(provider.ctx, "send", send_then_die)
    with pytest.raises(KeyboardInterrupt):
        provider.tick()
    market = client.ctx.deployment.market
    assert market.claim(claim_id).output_published
    assert not provider.record(job_id).output_published

    restarted = Provider(_reopened(provider.ctx))
    w3 = chain.provider.web3
    nonce = w3.eth.get_transaction_count(provider.ctx.address)
    restarted.tick()
    assert w3.eth.get_transaction_count(provider.ctx.address) == nonce  # nothing sent again
    assert restarted.record(job_id).output_published
    _finalize(chain, [restarted], client, job_id)
    assert restarted.record(job_id).stage == ProviderStage.DONE


def test_provider_publishes_from_the_store_when_its_kept_copy_is_gone(
    chain: Any, make_ctx: Any
) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, job_id, claim_id = _submitted(make_ctx, provider)
    kept = provider.workdir(job_id) / "output.bin"
    assert kept.exists()
    kept.write_bytes(b"\x00" * 96)  # damaged: its root is not the claim's
    client.demand_output(job_id)
    provider.tick()
    assert client.ctx.deployment.market.claim(claim_id).output_published
    assert np.array_equal(np.frombuffer(kept.read_bytes(), np.int8).reshape(3, 32), _expected())


@pytest.mark.parametrize(("blob", "state"), [("corrupt", "mismatch"), ("missing", "missing")])
def test_watchtower_flags_a_hidden_output_and_keeps_serving(
    chain: Any, make_ctx: Any, caplog: Any, blob: str, state: str
) -> None:
    hider = _staked(HidingProvider(make_ctx(PROVIDER, "hider"), blob=blob))
    client, hidden_job, hidden_claim = _submitted(make_ctx, hider)
    liar = _staked(cheating_provider(make_ctx(LIAR, "liar"), ProviderCheat("op")))
    _, lied_job, lied_claim = _submitted(make_ctx, liar, seed=1, client=client)
    tower = Watchtower(make_ctx(TOWER, "tower"))
    with caplog.at_level(logging.WARNING, logger="node.roles.watchtower"):
        for _ in range(3):
            tower.tick()
    hidden = tower.record(hidden_claim)
    assert hidden is not None and hidden.stage == WatchStage.CORRECT  # the result is right
    assert hidden.output == state and hidden.output_cause
    assert tower.status()["claims"][hidden_claim]["output"] == state
    flagged = [r for r in caplog.records if f"claim {hidden_claim} " in r.getMessage()]
    assert len(flagged) == 1 and state in flagged[0].getMessage()
    # the other claim is served: the liar is challenged, and its blob checked after
    lied = tower.record(lied_claim)
    assert lied is not None and lied.stage == WatchStage.PLAYING and lied.games
    assert lied.output == "available"
    assert hidden_job != lied_job


def test_a_failing_output_check_stops_nothing(chain: Any, make_ctx: Any, monkeypatch: Any) -> None:
    provider = _staked(Provider(make_ctx(PROVIDER, "provider")))
    client, _, good_claim = _submitted(make_ctx, provider)
    liar = _staked(cheating_provider(make_ctx(LIAR, "liar"), ProviderCheat("op")))
    _, _, lied_claim = _submitted(make_ctx, liar, seed=1, client=client)
    tower = Watchtower(make_ctx(TOWER, "tower"))
    real_get = tower.ctx.store.get
    locators = {tower.ctx.deployment.market.output_locator(c) for c in (good_claim, lied_claim)}

    def broken_get(cid: str, timeout: float | None = None) -> bytes:
        if cid in locators:
            raise RuntimeError("a bug in the store client")
        return real_get(cid, timeout)

    monkeypatch.setattr(tower.ctx.store, "get", broken_get)
    tower.tick()
    tower.tick()
    good = tower.record(good_claim)
    assert good is not None and good.stage == WatchStage.CORRECT and good.output is None
    assert "not checked: RuntimeError" in (good.output_cause or "")
    lied = tower.record(lied_claim)
    assert lied is not None and lied.stage == WatchStage.PLAYING and lied.games
    assert lied.failures == 0
