"""`poc explorer` on the embedded chain, server in this process: a small job run to finalized and
a cheating provider's job whose game it loses, then every page and API answer checked against
what the roles observed (their MoveRecords) and against the chain (balances of the burn address
and the watchtower). The browser half (Debian's Chromium under Selenium, with screenshots) is at
the end; it skips, saying why, only where no browser can be had."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.chain.contracts.deployment import Deployment
from node.chain.contracts.job_market import ClaimState, JobState
from node.embedded import EmbeddedNet, embedded_net
from node.explorer.node_state import NodeState
from node.explorer.server import ExplorerServer
from node.explorer.views import BURN, Explorer
from node.game.responder import MoveRecord
from node.roles.client import JobClient, JobTerms
from node.roles.examples import tiny_mlp
from node.roles.provider import Provider
from node.roles.watchtower import Watchtower
from poc_lab.adversary import ProviderCheat, cheating_provider

ETHER = 10**18
TERMS = JobTerms(
    reward=ETHER // 10,
    required_stake=ETHER // 2,
    challenger_bond=ETHER // 50,
    execute_within=900,
    challenge_window=600,
    clock=600,
)


@dataclass
class Market:
    net: EmbeddedNet
    explorer: Explorer
    server: ExplorerServer
    honest_job: int
    lost_job: int
    lost_claim: int
    lost_game: int
    moves: list[MoveRecord]  # the lost game's moves, as the roles saw them mined
    cheater: str
    honest: str
    tower: str
    poster: str
    burned: int  # what the burn address received during the cheating job
    tower_gain: int  # the watchtower's balance change over the cheating job, gas included
    tower_gas: int  # the gas the watchtower paid over the cheating job, wei

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.server.url + path.lstrip("/"), timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def api(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, body
        return json.loads(body)


def _gas_paid(net: EmbeddedNet, address: str, first_block: int) -> int:
    """Wei `address` paid for gas in blocks first_block.. (each block holds one transaction)."""
    w3 = net.w3
    paid = 0
    for n in range(first_block, int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if str(tx["from"]).lower() == address.lower():
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                paid += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    return paid


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    work = tmp_path_factory.mktemp("explorer")
    with embedded_net(work) as net:
        w3 = net.w3
        poster = JobClient(net.ctx(1, "poster"))
        honest = Provider(net.ctx(2, "provider"))
        moves: list[MoveRecord] = []
        tower = Watchtower(net.ctx(3, "watch"), observers=[moves.append])
        cheater = cheating_provider(
            net.ctx(4, "cheater"), ProviderCheat("sum"), observers=[moves.append]
        )
        market = honest.ctx.deployment.market
        spec, data = tiny_mlp(seed=0)

        honest.stake(ETHER)
        honest_job = poster.post(spec, data, TERMS)
        honest.tick()
        tower.tick()
        net.advance(TERMS.challenge_window + 1)
        net.drive([honest, tower], lambda: market.job(honest_job).state == JobState.FINALIZED)
        honest.tick()  # withdraws its reward

        cheater.stake(ETHER)
        start = int(w3.eth.block_number) + 1
        burn0 = int(w3.eth.get_balance(BURN))
        tower0 = int(w3.eth.get_balance(tower.ctx.address))
        lost_job = poster.post(spec, data, TERMS)
        cheater.tick()
        lost_claim = market.job(lost_job).current_claim
        net.drive(
            [cheater, tower],
            lambda: market.claim(lost_claim).state == ClaimState.REJECTED,
            step_s=1,
        )
        tower.tick()  # withdraws bond and bounty
        (lost_game,) = market.games_of_claim(lost_claim)

        local = net.local.deployment
        deployment = Deployment.from_addresses(w3, local.addresses, net.abis, local.block)
        node_state = NodeState(
            {
                "provider": work / "provider",
                "watchtower": work / "watch",
                "cheater": work / "cheater",
            }
        )
        explorer = Explorer(deployment, node_state)
        with ExplorerServer(explorer, port=0).start() as server:
            yield Market(
                net=net,
                explorer=explorer,
                server=server,
                honest_job=honest_job,
                lost_job=lost_job,
                lost_claim=lost_claim,
                lost_game=lost_game,
                moves=moves,
                cheater=cheater.ctx.address,
                honest=honest.ctx.address,
                tower=tower.ctx.address,
                poster=poster.ctx.address,
                burned=int(w3.eth.get_balance(BURN)) - burn0,
                tower_gain=int(w3.eth.get_balance(tower.ctx.address)) - tower0,
                tower_gas=_gas_paid(net, tower.ctx.address, start),
            )


# ---- the JSON API ------------------------------------------------------------------------------


def test_job_list_shows_both_jobs_with_their_states(market: Market) -> None:
    listing = market.api("/api/jobs")
    assert listing["count"] == 2
    rows = {r["job_id"]: r for r in listing["jobs"]}
    assert [r["job_id"] for r in listing["jobs"]] == [market.lost_job, market.honest_job]

    done = rows[market.honest_job]
    assert done["state"] == "finalized" and done["claim_state"] == "accepted"
    assert done["provider"] == market.honest and done["poster"] == market.poster
    assert done["reward"] == TERMS.reward and done["window_end"] is not None
    assert (done["claims"], done["games"]) == (1, 0)

    reopened = rows[market.lost_job]
    assert reopened["state"] == "open" and reopened["current_claim"] == 0
    assert (reopened["last_claim"], reopened["last_claim_state"]) == (market.lost_claim, "rejected")
    assert (reopened["claims"], reopened["games"]) == (1, 1)
    assert reopened["reopens_at"] > 0


def test_job_page_lists_the_rejected_claim_and_its_game(market: Market) -> None:
    job = market.api(f"/api/jobs/{market.lost_job}")
    (claim,) = job["claims"]
    assert claim["claim_id"] == market.lost_claim and claim["provider"] == market.cheater
    assert claim["state"] == "rejected"
    assert claim["outcome"] == f"rejected: the provider lost game {market.lost_game}"
    assert claim["execute_by"] > claim["claimed_at"] > 0
    (game,) = claim["games"]
    assert game["game_id"] == market.lost_game and game["challenger"] == market.tower
    assert game["status"] == "challenger_won" and game["moves"] == len(market.moves)
    # the claim lock (the required stake) is burned in full with the rejection
    assert {(p["who"], p["amount"]) for p in claim["payments"]} == {
        ("provider", -TERMS.required_stake),
        ("burned", TERMS.required_stake),
    }
    # the node's own view: the watchtower's record of the claim
    assert [(n["role"], n["stage"]) for n in claim["node"]] == [("watchtower", "done")]

    honest = market.api(f"/api/jobs/{market.honest_job}")
    (accepted,) = honest["claims"]
    assert accepted["state"] == "accepted" and accepted["games"] == []
    assert accepted["payments"] == [
        {"who": "provider", "address": market.honest, "amount": TERMS.reward, "what": "reward"}
    ]
    # the honest provider was paid; the cheater, staked only later, saw it finalized
    assert [(n["role"], n["stage"]) for n in honest["node"]] == [
        ("provider", "done"),
        ("cheater", "refused"),
    ]


def test_game_timeline_is_the_moves_the_roles_played(market: Market) -> None:
    game = market.api(f"/api/games/{market.lost_game}")
    moves = game["moves"]
    seen = market.moves
    assert len(moves) == len(seen) >= 8
    for shown, played in zip(moves, seen, strict=True):
        assert shown["move"] == played.move and shown["side"] == played.side
        assert shown["level"] == played.level and shown["tx_hash"] == played.tx_hash
        assert shown["gas_used"] == played.gas_used
        # the position it was played at is the roles' view before the move
        assert shown["phase"] == _phase_name(played.phase)
        assert shown["sent_by_node"] == ("cheater" if played.side == "provider" else "watchtower")
    # clocks after each move are the clocks the next move was played with
    for shown, following in zip(moves, seen[1:], strict=False):
        assert (shown["provider_clock"], shown["challenger_clock"]) == (
            following.provider_clock,
            following.challenger_clock,
        )
    # the step decided the game; the watchtower's settle (its own transaction) paid it
    assert moves[-2]["move"] == "step" and moves[-2]["side"] == "challenger"
    last = moves[-1]
    assert last["move"] == "settle" and last["side"] == "challenger" and last["level"] == "settle"
    assert (last["provider_clock"], last["challenger_clock"]) == (
        game["provider_clock"],
        game["challenger_clock"],
    )
    assert all(m["took"] >= 0 for m in moves) and [m["seq"] for m in moves] == list(
        range(1, len(moves) + 1)
    )
    assert game["level"] == "resolved" and game["to_move"] is None
    assert game["challenge_gas"] > 0 and game["clock"] == TERMS.clock


def _phase_name(phase: int) -> str:
    from node.game.rules import Phase

    return Phase(phase).name.lower()


def test_game_page_says_who_was_paid_what(market: Market) -> None:
    game = market.api(f"/api/games/{market.lost_game}")
    paid = {(p["who"], p["what"]): p for p in game["payments"]}
    backing = TERMS.required_stake  # the cheater had this much free when the game opened
    bounty = backing // 2
    assert game["row"]["backing"] == backing and game["row"]["bond"] == TERMS.challenger_bond
    assert paid[("challenger", "bond returned")]["amount"] == TERMS.challenger_bond
    assert paid[("challenger", "bounty")]["amount"] == bounty
    assert paid[("challenger", "bounty")]["address"] == market.tower
    assert paid[("provider", "game backing slashed")]["amount"] == -backing
    assert paid[("provider", "claim lock slashed")]["amount"] == -TERMS.required_stake
    shown_burned = sum(p["amount"] for p in game["payments"] if p["who"] == "burned")
    # against the chain: what reached the burn address, and what the watchtower gained
    assert shown_burned == market.burned == (backing - bounty) + TERMS.required_stake
    assert market.tower_gain + market.tower_gas == bounty
    assert "this game rejected the claim" in game["settlement"]
    # every wei that moved is shown: the lines add up to zero
    assert sum(p["amount"] for p in game["payments"]) == 0
    assert paid[("challenger", "bond paid to open the game")]["amount"] == -TERMS.challenger_bond


def test_status_names_the_deployment_and_the_state_folders(market: Market) -> None:
    status = market.api("/api/status")
    assert status["jobs"] == 2 and status["games"] == 1
    assert status["addresses"]["job_market"] == market.net.local.deployment.addresses["job_market"]
    assert {f["role"]: f["used"] for f in status["state_folders"]} == {
        "provider": True,
        "watchtower": True,
        "cheater": True,
    }


# ---- pages, errors, read-only ------------------------------------------------------------------


def test_pages_render_and_load_nothing_from_elsewhere(market: Market) -> None:
    for path in ("/", f"/jobs/{market.lost_job}", f"/games/{market.lost_game}"):
        status, headers, body = market.get(path)
        html = body.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "<script" not in html and "<link" not in html and "src=" not in html
        assert "http://" not in html and "https://" not in html
    _, _, body = market.get(f"/games/{market.lost_game}")
    html = body.decode()
    assert html.count('<tr class="move ') == len(market.moves)
    assert "challenger won" in html and "who was paid what" in html


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/jobs/999", 404, "job 999 does not exist on this deployment (jobs 1..2)"),
        ("/api/jobs/999", 404, "job 999 does not exist on this deployment (jobs 1..2)"),
        ("/games/7", 404, "game 7 does not exist on this deployment (games 1..1)"),
        ("/jobs/abc", 400, "job id must be a whole number &gt;= 1, got &#x27;abc&#x27;"),
        ("/api/games/0", 400, "game id must be a whole number >= 1, got '0'"),
        ("/?page=-1", 400, "page must be a whole number &gt;= 0"),
        ("/nothing/here", 404, "no page /nothing/here"),
    ],
)
def test_bad_requests_get_a_clear_answer(market: Market, path: str, status: int, says: str) -> None:
    got, _, body = market.get(path)
    assert got == status and says in body.decode()


def _data_files(folder: Path) -> dict[str, bytes]:
    # -shm is SQLite's shared lock index (readers leave read marks there), not data
    return {
        p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.suffix != ".db-shm"
    }


def test_it_is_read_only(market: Market) -> None:
    folder = market.net.work / "watch"
    before = _data_files(folder)
    req = urllib.request.Request(market.server.url + "api/jobs", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 405
    market.get(f"/jobs/{market.lost_job}")
    assert _data_files(folder) == before  # reading the node's state changed none of its files


def test_a_second_server_on_the_same_port_is_a_clear_error(market: Market) -> None:
    from node.explorer.server import ExplorerError

    with pytest.raises(ExplorerError, match=f"cannot listen on 127.0.0.1:{market.server.port}"):
        ExplorerServer(market.explorer, port=market.server.port)


# ---- in a real browser -----------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(
            f"no browser: {', '.join(missing)} missing; run `make browser` "
            "(scripts/install_browser.sh: apt-get install chromium chromium-driver, as root)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: run `make setup` (it is in the dev extra)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # tests run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # this machine reaches no other host
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: Any, path: Path) -> tuple[int, int]:
    """The whole page as a PNG: the window grown to the page's height first. Returns the
    viewport's size in pixels, which the PNG must have."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1400, min(max(height + 140, 600), 4000))
    size = driver.execute_script(
        "return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio]"
    )
    assert driver.save_screenshot(str(path))
    keep = os.environ.get("POC_EXPLORER_SCREENSHOTS")  # e.g. docs/img, to refresh the docs
    if keep:
        shutil.copy(path, Path(keep) / f"explorer-{path.stem}.png")
    return int(size[0]), int(size[1])


def _check_png(path: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    with Image.open(path) as img:
        img.verify()  # a whole, well-formed PNG
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == size
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        assert len(colours) >= 50, f"{path.name}: only {len(colours)} colours (blank?)"
        pixels = {c for _, c in colours}
        # the header bar, the state badges: the page's own colours are on screen
        assert (0x1D, 0x23, 0x30) in pixels, f"{path.name}: no header bar"


def test_browser_job_list_and_lost_game(market: Market, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(market.server.url)
    assert browser.title == "jobs · poc explorer"
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.job-row")
    assert [r.get_attribute("data-job") for r in rows] == [
        str(market.lost_job),
        str(market.honest_job),
    ]
    lost_row, honest_row = (r.text for r in rows)
    assert f"job {market.lost_job}" in lost_row and "open" in lost_row
    assert f"last #{market.lost_claim} rejected" in lost_row
    assert f"job {market.honest_job}" in honest_row and "finalized" in honest_row
    assert "accepted" in honest_row and "0.1 ETH" in honest_row
    jobs_png = tmp_path / "jobs.png"
    _check_png(jobs_png, _screenshot(browser, jobs_png))

    # from the list to the job, from the job to its game, by clicking the links
    browser.find_element(By.LINK_TEXT, f"job {market.lost_job}").click()
    assert browser.title == f"job {market.lost_job} · poc explorer"
    claim = browser.find_element(By.ID, f"claim-{market.lost_claim}").text
    assert f"rejected: the provider lost game {market.lost_game}" in claim
    browser.find_element(By.LINK_TEXT, f"game {market.lost_game}").click()
    assert browser.title == f"game {market.lost_game} · poc explorer"

    body = browser.find_element(By.TAG_NAME, "body").text
    n = len(market.moves)
    provider_moves = sum(1 for m in market.moves if m.side == "provider")
    gas = sum(m.gas_used for m in market.moves)
    assert f"{n} moves ({provider_moves} by the provider), {gas:,} gas in all" in body
    assert "challenger won" in body
    shown = browser.find_elements(By.CSS_SELECTOR, "tr.move")
    assert len(shown) == n
    last = shown[-1].text
    assert "settle" in last and "challenger" in last and f"{market.moves[-1].gas_used:,}" in last
    assert "step" in shown[-2].text and f"{market.moves[-2].gas_used:,}" in shown[-2].text
    paid = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tr.payment")]
    tower = market.tower
    assert any(r.startswith("challenger") and "+0.25 ETH" in r and "bounty" in r for r in paid)
    assert any(tower[:8] in r for r in paid)
    assert any(r.startswith("provider") and "-0.5 ETH" in r and "claim lock" in r for r in paid)
    assert any(r.startswith("burned") and "0.25 ETH" in r for r in paid)
    net = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tr.net")]
    assert [r.split()[0] for r in net] == ["challenger", "provider", "burned"]
    assert net[0].endswith("+0.25 ETH") and net[1].endswith("-1 ETH")
    assert net[2].endswith("0.75 ETH")
    game_png = tmp_path / "game.png"
    _check_png(game_png, _screenshot(browser, game_png))
    with __import__("PIL.Image").Image.open(game_png) as img:
        pixels = {c for _, c in img.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    # the challenger-won badge and the provider's timeline colour are drawn
    assert (0xC5, 0x30, 0x30) in pixels and (0x2F, 0x6F, 0xDB) in pixels
