"""The explorer's pages: plain HTML with one inline style sheet. No script, no font, no image
and nothing else is fetched from anywhere (the server's Content-Security-Policy forbids it), so
the pages work offline and show the same in any browser. Every value is escaped."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from node.explorer.node_state import NodeRecord
from node.explorer.timeline import Move
from node.explorer.views import ChainInfo, ClaimView, GameDetail, GameRow, JobRow, JobView, Payment

ETHER = 10**18

STYLE = """
:root { --ink:#1d2330; --mute:#5d6b82; --line:#dfe4ec; --bg:#f6f8fb; --card:#fff;
  --prov:#2f6fdb; --chal:#d9731a; --good:#1f9d55; --bad:#c53030; --warn:#b7791f; --burn:#6b46c1; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--ink); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:10px 24px; display:flex; gap:24px;
  align-items:baseline; flex-wrap:wrap; }
header a { color:#fff; text-decoration:none; font-weight:700; font-size:17px; }
header .meta { color:#b8c2d6; font-size:12.5px; }
main { padding:18px 24px 40px; max-width:1400px; }
h1 { font-size:21px; margin:4px 0 14px; }
h2 { font-size:16px; margin:22px 0 8px; }
h3 { font-size:14.5px; margin:14px 0 6px; }
a { color:var(--prov); }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:12px 16px; margin:10px 0 16px; }
table { border-collapse:collapse; width:100%; background:var(--card); }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line);
  vertical-align:top; white-space:nowrap; }
th { background:#eef2f8; font-weight:600; font-size:12.5px; color:var(--mute); }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.wrap { white-space:normal; }
tr:hover td { background:#f9fbff; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:4px 18px; margin:0; }
dt { color:var(--mute); }
dd { margin:0; overflow-wrap:anywhere; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size:12.5px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
  font-weight:600; color:#fff; background:var(--mute); }
.s-open, .s-active { background:var(--prov); }
.s-claimed, .s-submitted { background:var(--warn); }
.s-finalized, .s-accepted, .s-provider_won { background:var(--good); }
.s-cancelled, .s-expired { background:#718096; }
.s-rejected, .s-challenger_won { background:var(--bad); }
.side-provider td:first-child { border-left:4px solid var(--prov); }
.side-challenger td:first-child { border-left:4px solid var(--chal); }
.side-other td:first-child { border-left:4px solid var(--mute); }
.who-provider { color:var(--prov); font-weight:600; }
.who-challenger { color:var(--chal); font-weight:600; }
.who-poster { color:var(--good); font-weight:600; }
.who-burned { color:var(--burn); font-weight:600; }
.plus { color:var(--good); } .minus { color:var(--bad); }
.bar { display:inline-block; height:9px; border-radius:2px; vertical-align:middle;
  margin-right:6px; }
.bar.gas { background:#9fb7e3; } .bar.pc { background:var(--prov); } .bar.cc { background:var(--chal); }
.muted { color:var(--mute); }
.small { font-size:11.5px; }
.error { border-color:var(--bad); color:var(--bad); }
.pager a { margin-right:12px; }
.legend span { margin-right:16px; }
"""


# ---- small pieces ----------------------------------------------------------------------------


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def eth(wei: int, signed: bool = False) -> str:
    """Wei as ETH, exact (no rounding), without trailing zeros after the point."""
    whole, frac = divmod(abs(wei), ETHER)  # integers: Decimal would round past 28 digits
    text = f"{whole}.{frac:018d}".rstrip("0").rstrip(".")
    sign = ("+" if wei > 0 else "-" if wei < 0 else "") if signed else ("-" if wei < 0 else "")
    return f"{sign}{text} ETH"


def short(address: str | None) -> str:
    if not address:
        return "-"
    a = str(address)
    return f'<span class="mono" title="{esc(a)}">{esc(a[:8])}…{esc(a[-6:])}</span>'


def when(ts: int | None, now: int) -> str:
    """A chain timestamp in UTC, and how far it is from the chain's now."""
    if not ts:
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    delta = ts - now
    rel = f"in {_span(delta)}" if delta > 0 else f"{_span(-delta)} ago" if delta < 0 else "now"
    return f'{esc(stamp)} <span class="muted">({esc(rel)})</span>'


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def badge(state: str | None) -> str:
    if not state:
        return "-"
    return f'<span class="badge s-{esc(state)}">{esc(state.replace("_", " "))}</span>'


def table(head: Sequence[str], rows: Iterable[str], numeric: Iterable[int] = ()) -> str:
    nums = set(numeric)
    ths = "".join(
        f'<th class="num">{esc(h)}</th>' if i in nums else f"<th>{esc(h)}</th>"
        for i, h in enumerate(head)
    )
    body = "".join(rows)
    if not body:
        body = f'<tr><td colspan="{len(head)}" class="muted">none</td></tr>'
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, info: ChainInfo | None) -> str:
    meta = ""
    if info is not None:
        used = [f["role"] for f in info.state_folders if f["used"]]
        node = f"node state: {', '.join(used)}" if used else "no node state"
        meta = (
            f'<span class="meta">chain {info.chain_id} · block {info.head} · '
            f"{esc(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(info.now)))} · "
            f"market {esc(info.addresses.get('job_market', '?'))} · {esc(node)}</span>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · poc explorer</title><style>{STYLE}</style></head><body>"
        f'<header><a href="/">poc explorer</a>{meta}</header><main>{body}</main></body></html>'
    )


def error_page(status: int, message: str, info: ChainInfo | None = None) -> str:
    body = f'<h1>{status}</h1><div class="card error">{esc(message)}</div><a href="/">all jobs</a>'
    return page(f"{status}", body, info)


# ---- pages -----------------------------------------------------------------------------------


def jobs_page(info: ChainInfo, rows: list[JobRow], count: int, page_no: int, size: int) -> str:
    def row(r: JobRow) -> str:
        claim = "-"
        if r.current_claim:
            claim = f"#{r.current_claim} {badge(r.claim_state)} {short(r.provider)}"
        elif r.last_claim:
            claim = f'<span class="muted">last</span> #{r.last_claim} {badge(r.last_claim_state)}'
        if r.reopens_at > info.now:
            claim += (
                f'<br><span class="muted small">claimable {when(r.reopens_at, info.now)}</span>'
            )
        return (
            f'<tr class="job-row" data-job="{r.job_id}">'
            f'<td><a href="/jobs/{r.job_id}">job {r.job_id}</a></td>'
            f"<td>{badge(r.state)}</td>"
            f'<td class="num">{esc(eth(r.reward))}</td>'
            f"<td>{short(r.poster)}</td><td>{claim}</td>"
            f"<td>{when(r.window_end, info.now)}</td>"
            f'<td class="num">{r.claims}</td><td class="num">{r.games}</td></tr>'
        )

    pager = []
    if page_no > 0:
        pager.append(f'<a href="/?page={page_no - 1}">newer</a>')
    if (page_no + 1) * size < count:
        pager.append(f'<a href="/?page={page_no + 1}">older</a>')
    head = ["job", "state", "reward", "poster", "current claim", "window ends", "claims", "games"]
    folders = "".join(
        f"<li><code>{esc(f['path'])}</code>: {esc(f['role'])}, "
        f"{'read' if f['used'] else esc(f['problem'] or 'not used')}</li>"
        for f in info.state_folders
    )
    body = (
        f"<h1>Jobs <span class='muted'>({count} on this market, newest first)</span></h1>"
        + table(head, (row(r) for r in rows), numeric=(2, 6, 7))
        + f'<p class="pager">{"".join(pager)}</p>'
        + "<h2>Deployment</h2><div class='card'><dl>"
        + "".join(
            f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in info.addresses.items()
        )
        + f"<dt>start block</dt><dd>{info.start_block}</dd><dt>games</dt><dd>{info.games}</dd>"
        + f"<dt>node state</dt><dd><ul>{folders or '<li>none given</li>'}</ul></dd></dl></div>"
    )
    return page("jobs", body, info)


def _node_records(records: list[NodeRecord]) -> str:
    if not records:
        return ""
    items = []
    for r in records:
        extra = f": {esc(r.reason)}" if r.reason else ""
        err = r.data.get("last_error")
        failing = (
            f' <span class="minus">retrying after {esc(r.data.get("failures"))} failures: '
            f"{esc(err)}</span>"
            if err
            else ""
        )
        items.append(f"<li>this node's {esc(r.role)}: <b>{esc(r.stage)}</b>{extra}{failing}</li>")
    return f'<ul class="node">{"".join(items)}</ul>'


def _amount(p: Payment) -> str:
    if p.who == "burned":  # gone for everyone: not a gain
        return f'<td class="num who-burned">{esc(eth(p.amount))}</td>'
    cls = "plus" if p.amount > 0 else "minus" if p.amount < 0 else ""
    return f'<td class="num {cls}">{esc(eth(p.amount, signed=True))}</td>'


def payments_table(payments: list[Payment]) -> str:
    def row(p: Payment) -> str:
        return (
            f'<tr class="payment"><td class="who-{esc(p.who)}">{esc(p.who)}</td>'
            f"<td>{short(p.address)}</td>{_amount(p)}"
            f'<td class="wrap">{esc(p.what)}</td></tr>'
        )

    return table(["who", "address", "amount", "what"], (row(p) for p in payments), numeric=(2,))


def net_table(payments: list[Payment]) -> str:
    """The payments summed per party."""
    sums: dict[tuple[str, str], int] = {}
    for p in payments:
        sums[(p.who, p.address)] = sums.get((p.who, p.address), 0) + p.amount

    def row(key: tuple[str, str], amount: int) -> str:
        p = Payment(key[0], key[1], amount, "")
        return (
            f'<tr class="net"><td class="who-{esc(p.who)}">{esc(p.who)}</td>'
            f"<td>{short(p.address)}</td>{_amount(p)}</tr>"
        )

    return table(["who", "address", "net"], (row(k, v) for k, v in sums.items()), numeric=(2,))


def games_table(games: list[GameRow]) -> str:
    def row(g: GameRow) -> str:
        how = " (timeout)" if g.by_timeout else ""
        return (
            f'<tr><td><a href="/games/{g.game_id}">game {g.game_id}</a></td>'
            f"<td>{short(g.challenger)}</td><td>{badge(g.status)}{esc(how)}</td>"
            f'<td class="num">{g.moves}</td><td class="num">{esc(eth(g.bond))}</td>'
            f'<td class="num">{esc(eth(g.backing))}</td><td class="num">{esc(eth(g.bounty))}</td>'
            f'<td class="num">{esc(eth(g.burned))}</td></tr>'
        )

    head = ["game", "challenger", "status", "moves", "bond", "backing", "bounty", "burned"]
    return table(head, (row(g) for g in games), numeric=(3, 4, 5, 6, 7))


def _claim_card(c: ClaimView, now: int) -> str:
    details = [
        ("provider", short(c.provider)),
        ("state", badge(c.state)),
        ("outcome", esc(c.outcome)),
        ("claimed", when(c.claimed_at, now)),
        ("execute by", when(c.execute_by, now)),
        ("submitted", when(c.submitted_at, now)),
        ("window ends", when(c.window_end, now)),
        ("lock", esc(eth(c.lock))),
        ("S_N", f"<code>{esc(c.s_n)}</code>"),
        ("output root", f"<code>{esc(c.output_root)}</code>"),
        ("output", f"<code>{esc(c.output_locator or '-')}</code>"),
    ]
    if c.output_due:
        details.append(("output due", when(c.output_due, now)))
    if c.output_published:
        details.append(("output published", "on chain"))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in details)
    return (
        f'<div class="card claim" id="claim-{c.claim_id}"><h3>claim {c.claim_id} {badge(c.state)}</h3>'
        f"<dl>{dl}</dl>{_node_records(c.node)}"
        f"<h3>games</h3>{games_table(c.games)}"
        f"<h3>paid for this claim</h3>{payments_table(c.payments)}</div>"
    )


def job_page(info: ChainInfo, v: JobView) -> str:
    r = v.row
    p = v.params
    details = [
        ("state", badge(r.state)),
        ("reward", esc(eth(r.reward))),
        ("poster", short(r.poster)),
        ("required stake", esc(eth(int(p["required_stake"])))),
        ("challenger bond", esc(eth(int(p["challenger_bond"])))),
        ("claim by", when(int(p["claim_by"]), info.now)),
        ("execute within", f"{int(p['execute_within'])} s"),
        ("challenge window", f"{int(p['challenge_window'])} s"),
        ("clock", f"{int(p['clock'])} s per side"),
        ("program", f"{int(p['n_inputs'])} inputs, {int(p['n_ops'])} ops"),
        ("program root", f"<code>{esc(p['program_root'])}</code>"),
        ("spec", f"<code>{esc(v.spec_locator or '-')}</code>"),
        ("posted in block", str(v.posted_block)),
    ]
    if r.reopens_at:
        details.append(("claimable again", when(r.reopens_at, info.now)))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{val}</dd>" for k, val in details)
    claims = "".join(_claim_card(c, info.now) for c in v.claims) or (
        '<div class="card muted">no claim yet</div>'
    )
    paid = f"<h2>paid for the job</h2>{payments_table(v.payments)}" if v.payments else ""
    body = (
        f"<h1>job {r.job_id} {badge(r.state)}</h1><div class='card'><dl>{dl}</dl>"
        f"{_node_records(v.node)}</div>{paid}<h2>claims ({len(v.claims)})</h2>{claims}"
    )
    return page(f"job {r.job_id}", body, info)


def _bar(kind: str, value: int, top: int, width: int = 80) -> str:
    px = 0 if top <= 0 else max(1, round(width * value / top)) if value > 0 else 0
    return f'<span class="bar {kind}" style="width:{px}px"></span>'


def _clock(value: int | None, clock: int, kind: str) -> str:
    if value is None:
        return '<span class="muted">n/a</span>'
    return f"{_bar(kind, value, clock, 50)}{value}s"


def timeline_table(moves: list[Move], clock: int) -> str:
    top_gas = max((m.gas_used for m in moves), default=0)

    def row(m: Move) -> str:
        took = f" (+{m.took}s)" if m.took is not None else ""
        mine = ""
        if m.sent_by_node:
            mine = (
                f'<br><span class="muted small">sent by this node\'s {esc(m.sent_by_node)}</span>'
            )
        return (
            f'<tr class="move side-{esc(m.side)}" data-seq="{m.seq}">'
            f'<td class="num">{m.seq}</td>'
            f"<td>{esc(time.strftime('%H:%M:%S', time.gmtime(m.timestamp)))}"
            f'<span class="muted">{esc(took)}</span></td>'
            f'<td class="who-{esc(m.side)}">{esc(m.side)}</td>'
            f"<td><code>{esc(m.move)}</code></td>"
            f'<td>{esc(m.level)} <span class="muted small">{esc(m.phase)}</span></td>'
            f"<td>{esc(m.position)}</td>"
            f'<td class="num">{_bar("gas", m.gas_used, top_gas)}{m.gas_used:,}</td>'
            f"<td>{_clock(m.provider_clock, clock, 'pc')}</td>"
            f"<td>{_clock(m.challenger_clock, clock, 'cc')}</td>"
            f'<td><span class="mono" title="{esc(m.tx_hash)}">{esc(m.tx_hash[:10])}…</span>'
            f' <span class="muted">#{m.block}</span>{mine}</td></tr>'
        )

    head = [
        "#",
        "time",
        "side",
        "move",
        "level / phase",
        "position",
        "gas",
        "provider clock",
        "challenger clock",
        "tx / block",
    ]
    return table(head, (row(m) for m in moves), numeric=(0, 6))


def game_page(info: ChainInfo, g: GameDetail) -> str:
    r = g.row
    moves = g.moves
    gas = sum(m.gas_used for m in moves)
    by_provider = sum(1 for m in moves if m.side == "provider")
    how = " by timeout" if r.by_timeout else ""
    details = [
        (
            "job / claim",
            f'<a href="/jobs/{g.job_id}#claim-{r.claim_id}">job {g.job_id}</a>'
            f" · claim {r.claim_id}",
        ),
        ("status", f"{badge(r.status)}{esc(how)}"),
        ("provider", f'<span class="who-provider">{short(g.provider)}</span>'),
        ("challenger", f'<span class="who-challenger">{short(g.challenger)}</span>'),
        ("winner", short(r.winner)),
        ("program", f"{g.n_ops} ops"),
        ("clock", f"{g.clock} s per side"),
        ("bond / backing", f"{esc(eth(r.bond))} / {esc(eth(r.backing))}"),
        ("opened", f"block {g.opened_block} by challenge, {g.challenge_gas:,} gas"),
    ]
    if g.to_move is not None:
        details += [
            ("now at", esc(g.level)),
            ("to move", esc(g.to_move)),
            ("deadline", when(g.deadline, info.now)),
            ("clocks left", f"provider {g.provider_clock}s, challenger {g.challenger_clock}s"),
        ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{val}</dd>" for k, val in details)
    summary = (
        f'<p class="summary">{len(moves)} moves ({by_provider} by the provider), '
        f"{gas:,} gas in all</p>"
    )
    legend = (
        '<p class="legend muted"><span><span class="bar pc" style="width:14px"></span>'
        "provider</span><span><span class='bar cc' style='width:14px'></span>challenger</span>"
        "<span>clocks: seconds left after the move; position: where it was played</span></p>"
    )
    body = (
        f"<h1>game {r.game_id} {badge(r.status)}</h1><div class='card'><dl>{dl}</dl></div>"
        f"<h2>moves</h2>{summary}{legend}{timeline_table(moves, g.clock)}"
        f"<h2>who was paid what</h2><p class='settlement'>{esc(g.settlement)}</p>"
        f"{payments_table(g.payments)}"
        + (f"<h3>net for this game</h3>{net_table(g.payments)}" if g.payments else "")
    )
    return page(f"game {r.game_id}", body, info)
