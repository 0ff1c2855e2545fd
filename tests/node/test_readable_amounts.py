"""Amounts and durations as the status commands print them (node.readable), and the job,
claim or game an intent key names (node.roles.earnings): properties over all inputs."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from node.readable import WEI_PER_ETH, duration, eth
from node.roles.earnings import ids_of_key

AMOUNT = re.compile(r"^([+-]?)(\d+)\.(\d{4,6}) ETH$")
UNITS = {"d": 86400, "h": 3600, "min": 60, "s": 1}


@given(st.integers(min_value=-(10**27), max_value=10**27), st.booleans())
def test_eth_shows_4_to_6_decimals_within_half_a_millionth(wei: int, sign: bool) -> None:
    text = eth(wei, sign=sign)
    if 0 < abs(wei) < 5 * 10**11:
        assert text.endswith("<0.000001 ETH")
        return
    m = AMOUNT.match(text)
    assert m, text
    shown = Decimal(f"{m[2]}.{m[3]}") * WEI_PER_ETH
    assert abs(shown - abs(wei)) <= 5 * 10**11  # rounded to 6 decimals
    assert shown > 0 or wei == 0  # a non-zero amount never reads as zero
    assert (m[1] == "-") == (wei < 0)
    assert (m[1] == "+") == (sign and wei > 0)


@given(st.integers(min_value=0, max_value=10**9))
def test_duration_names_the_two_largest_units(seconds: int) -> None:
    text = duration(seconds)
    parts = re.findall(r"(\d+) (d|h|min|s)\b", text)
    assert 1 <= len(parts) <= 2 and " ".join(f"{n} {u}" for n, u in parts) == text
    total = sum(int(n) * UNITS[u] for n, u in parts)
    assert 0 <= seconds - total < UNITS[parts[-1][1]]  # less than the smaller unit shown
    if seconds < 60:
        assert text == f"{seconds} s"


@given(
    st.integers(1, 2**64),
    st.integers(1, 2**64),
    st.sampled_from(["submit", "finalize", "expire", "publish", "demand", "output-timeout"]),
)
def test_keys_name_their_job_and_claim(job: int, claim: int, head: str) -> None:
    assert ids_of_key(f"{head}:{job}:{claim}") == {"job_id": job, "claim_id": claim}


@given(st.integers(1, 2**64), st.text(alphabet="abcdefgh:0123456789-.", max_size=30))
def test_a_game_move_key_names_its_game(game: int, rest: str) -> None:
    assert ids_of_key(f"game:{game}:provider:{rest}") == {"game_id": game}
    assert ids_of_key(f"challenge:{game}") == {"claim_id": game}
    assert ids_of_key(None) == {} and ids_of_key("withdraw") == {}
