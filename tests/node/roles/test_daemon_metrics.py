"""The daemons' Prometheus metrics (issue 17): scraped over HTTP from a provider and a
watchtower running on the embedded chain through a job and a game, the counters move as the
job and the game did; the Grafana dashboard in docs/ charts only metrics that exist, and every
family that exists."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from poc_cli_support import poc
from prometheus_client.parser import text_string_to_metric_families
from roles_support import ETHER, TERMS, advance, drive, post_tiny

from node.chain.contracts.job_market import JobState
from node.chain.contracts.token import ETHER_ADDRESS
from node.game.responder import MoveRecord
from node.roles.metrics import MetricsUnavailable, NodeMetrics, exposed_names, series_names
from node.roles.provider import Provider, ProviderPolicy
from node.roles.watchtower import WatchPolicy
from node.storage.errors import ContentUnavailable
from poc_lab.adversary import false_challenger

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "docs" / "grafana-poc.json"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the endpoint serves: (name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_scraped_counters_follow_a_job_and_a_game(chain: Any, make_ctx: Any) -> None:
    job_id = post_tiny(make_ctx(1, "poster"))
    moves: list[MoveRecord] = []
    provider = Provider(
        make_ctx(2, "provider"), ProviderPolicy(metrics_port=0), observers=[moves.append]
    )
    liar = false_challenger(make_ctx(3, "liar"), policy=WatchPolicy(metrics_port=0))
    try:
        assert provider.metrics_url and provider.metrics_url.startswith("http://127.0.0.1:")
        assert f"metrics on {provider.metrics_url}" in provider.describe()
        provider.stake(ETHER)
        provider.tick()
        d = provider.ctx.deployment
        claim_id = d.market.job(job_id).current_claim
        liar.tick()  # challenges
        (game_id,) = d.market.games_of_claim(claim_id)
        provider.tick()  # first answer
        mid = scrape(provider.metrics_url)
        assert value(mid, "poc_games_open") == 1
        clocks = {
            dict(ls)["side"]: v for (n, ls), v in mid.items() if n == "poc_game_clock_seconds"
        }
        assert set(clocks) == {"provider", "challenger"}, mid
        assert 0 < clocks["challenger"] <= TERMS.clock and 0 < clocks["provider"] <= TERMS.clock
        assert all(
            dict(ls)["game"] == str(game_id) for (n, ls) in mid if n == "poc_game_clock_seconds"
        )

        drive(chain, [provider, liar], lambda: not d.game_view(game_id).active, seconds_per_round=1)
        advance(chain, TERMS.challenge_window)
        drive(chain, [provider, liar], lambda: d.market.job(job_id).state == JobState.FINALIZED)
        provider.tick()
        liar.tick()
        # a content-store failure is counted by its type
        with pytest.raises(ContentUnavailable):
            provider.ctx.store.get("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 1)

        got = scrape(provider.metrics_url)
        totals = provider.ledger.summary()["totals"][ETHER_ADDRESS]
        assert value(got, "poc_jobs_total", stage="seen") == 1
        for stage in ("claimed", "submitted", "finalized"):
            assert value(got, "poc_jobs_total", stage=stage) == 1, stage
        assert value(got, "poc_jobs_total", stage="expired") == 0
        assert value(got, "poc_games_total", result="won") == 1
        assert value(got, "poc_games_total", result="lost") == 0
        assert value(got, "poc_games_open") == 0
        assert not [k for k in got if k[0] == "poc_game_clock_seconds"]  # the game ended
        ours = [m for m in moves if m.side == "provider"]
        assert value(got, "poc_moves_total", side="provider") == len(ours) > 0
        assert value(got, "poc_earned_wei_total", kind="reward", asset=ETHER_ADDRESS) == (
            TERMS.reward
        )
        assert value(got, "poc_earned_wei_total", kind="bond_won") == TERMS.challenger_bond
        assert value(got, "poc_withdrawn_wei_total") == TERMS.reward + TERMS.challenger_bond
        assert value(got, "poc_gas_spent_wei_total") == totals["gas"] > 0
        assert value(got, "poc_gas_used_total", function="submitResult") > 0
        assert value(got, "poc_transactions_total", function="claim", status="mined") == 1
        assert value(got, "poc_transaction_confirmation_seconds_count") == totals["transactions"]
        assert value(got, "poc_rpc_request_seconds_count", method="eth_call") > 0
        assert value(got, "poc_rpc_request_seconds_count", method="eth_getLogs") > 0
        assert value(got, "poc_storage_request_seconds_count", op="put") >= 1
        assert value(got, "poc_storage_request_seconds_count", op="get") >= 2
        assert value(got, "poc_storage_errors_total", op="get", error="ContentUnavailable") == 1
        assert value(got, "poc_chain_head_block") == d.block_number()
        assert value(got, "poc_scan_lag_blocks") == 0
        # Prometheus values are float64: exact below 2**53 wei, 16 digits above
        balance = d.w3.eth.get_balance(provider.ctx.address)
        assert value(got, "poc_account_balance_wei") == pytest.approx(balance, rel=1e-15)
        assert value(got, "poc_ticks_total") >= 4 and value(got, "poc_tick_failures_total") == 0
        assert value(got, "poc_node_info", role="provider", address=provider.ctx.address) == 1

        # the false challenger's own endpoint: its game lost, its bond gone, its moves counted
        assert liar.metrics_url and liar.metrics_url != provider.metrics_url
        tower = scrape(liar.metrics_url)
        assert value(tower, "poc_games_total", result="lost") == 1
        assert value(tower, "poc_lost_wei_total", kind="bond_lost") == TERMS.challenger_bond
        assert value(tower, "poc_moves_total", side="challenger") > 0
        assert value(tower, "poc_moves_total", side="provider") == 0  # each counts its own
        assert value(tower, "poc_transactions_total", function="challenge", status="mined") == 1
        assert value(tower, "poc_jobs_total", stage="claimed") == 0  # not its claim
    finally:
        provider.close()
        liar.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(str(provider.metrics_url), timeout=2)


def test_a_refused_transaction_and_a_failing_rpc_answer_are_counted(make_ctx: Any) -> None:
    provider = Provider(make_ctx(2, "provider"))
    from node.chain.errors import TransactionReverted
    from node.chain.rpc import observing

    with observing(provider.metrics.on_rpc), pytest.raises(TransactionReverted):
        provider.ctx.send(provider.ctx.deployment.market.withdraw())  # no credits: reverts
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in provider.metrics.registry.collect()
        for s in family.samples
    }
    assert value(samples, "poc_transactions_total", function="withdraw", status="refused") == 1
    assert value(samples, "poc_rpc_errors_total", method="eth_call") == 1


def test_run_serves_metrics_on_the_port_asked_and_a_taken_port_is_a_clear_error(
    make_ctx: Any, capsys: Any, monkeypatch: Any, caplog: Any
) -> None:
    """`poc provider run --metrics-port`: the option reaches the daemon, whose start line says
    where it serves; a port already taken exits with code 3 and says so."""
    from node.cli import role_options

    ctx = make_ctx(2, "provider")
    made: list[Provider] = []

    def build(_config: Any, _role: str, **policy: Any) -> Provider:
        made.append(Provider(ctx, ProviderPolicy(**policy)))
        return made[-1]

    monkeypatch.setattr(role_options, "build_daemon", build)
    monkeypatch.setattr(role_options, "setup_logging", lambda _fmt: None)  # keep pytest's
    caplog.set_level("INFO", logger="node.roles")
    ran = poc(capsys, monkeypatch, "provider", "run", "--once", "--metrics-port", "0")
    try:
        assert ran.code == 0, ran
        url = made[0].metrics_url
        assert url and f"metrics on {url}" in caplog.text
        assert value(scrape(url), "poc_ticks_total") == 1
    finally:
        made[0].close()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsUnavailable):
            Provider(ctx, ProviderPolicy(metrics_port=port))
        ran = poc(capsys, monkeypatch, "provider", "run", "--once", "--metrics-port", str(port))
    assert ran.code == 3, ran
    assert f"cannot serve metrics on 127.0.0.1:{port}" in ran.err
    assert "pick another --metrics-port" in ran.err


def _dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 30 and board["title"] and board["uid"]
    assert board["templating"]["list"], "a datasource variable"
    queries = []
    for panel in board["panels"]:
        assert {"id", "type", "title", "gridPos"} <= set(panel), panel.get("title")
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"], panel["title"]
            queries.append(target["expr"])
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    return queries


def test_the_dashboard_charts_only_and_every_metric_that_exists() -> None:
    families = series_names(NodeMetrics().registry)
    exposed = exposed_names(NodeMetrics().registry)
    named = {name for q in _dashboard_queries() for name in re.findall(r"\bpoc_[a-z0-9_]+\b", q)}
    assert named, "the dashboard names no poc metric"
    assert named <= exposed, f"the dashboard names metrics that do not exist: {named - exposed}"
    uncharted = {f for f, series in families.items() if not series & named}
    assert not uncharted, f"metric families without a panel: {uncharted}"
