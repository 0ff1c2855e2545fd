"""The rules an honest replica and an honest watchtower apply to replicated jobs
(node.roles.safety.unsafe_replica_terms, unsafe_watch; docs/operator.md sections 3-4), as
properties: better terms never add a reason, a replica is never looser than a provider on the
rules they share, and the watchtower's clock rule is the one clock bound of the three."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.roles import safety

GWEI = safety.GWEI


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    cost = safety.JobCost(moves=draw(st.integers(1, 16)), macs=draw(st.integers(1, 10**12)))
    chain = safety.ChainConditions(
        block_time=draw(st.sampled_from([1.0, 2.0, 12.0])),
        gas_price=draw(st.integers(0, 500 * GWEI)),
    )
    margins = safety.Margins(
        margin=draw(st.sampled_from([1.0, 3.0, 10.0])),
        bond_margin=draw(st.sampled_from([1.0, 2.0])),
    )
    terms = {
        "clock": draw(st.integers(60, 7 * 86400)),
        "execute_within": draw(st.integers(60, 7 * 86400)),
        "reveal_window": draw(st.integers(60, 7 * 86400)),
        "challenger_bond": draw(st.integers(1, 10**19)),
        "required_stake": draw(st.integers(1, 10**19)),
    }
    return {"cost": cost, "chain": chain, "margins": margins, **terms}


@settings(max_examples=300)
@given(cases(), st.sampled_from(["clock", "execute_within", "reveal_window",
                                 "challenger_bond", "required_stake"]), st.integers(1, 10**18))  # fmt: skip
def test_better_terms_never_add_a_reason(case: dict[str, Any], term: str, more: int) -> None:
    worse = safety.unsafe_replica_terms(**case)
    better = safety.unsafe_replica_terms(**{**case, term: case[term] + more})
    assert len(better) <= len(worse)
    assert {r.split(" ")[0] for r in better} <= {r.split(" ")[0] for r in worse}


@settings(max_examples=300)
@given(cases())
def test_a_replica_is_never_looser_than_a_provider_on_the_shared_rules(
    case: dict[str, Any],
) -> None:
    provider = safety.unsafe_terms(
        clock=case["clock"],
        execute_within=case["execute_within"],
        challenge_window=10**9,  # not a replica rule
        challenger_bond=case["challenger_bond"],
        cost=dataclasses.replace(case["cost"], output_bytes=0),
        chain=case["chain"],
        margins=case["margins"],
    )
    replica = safety.unsafe_replica_terms(**case)
    for rule in ("clock", "execute-within", "challenger bond"):
        if any(r.startswith(rule) for r in provider):
            assert any(r.startswith(rule) for r in replica), (rule, provider, replica)


@settings(max_examples=300)
@given(cases())
def test_the_watchtower_refuses_exactly_the_clocks_a_replica_refuses(case: dict[str, Any]) -> None:
    """Both play the challenger's side (moves + 1): one bound, whoever checks it."""
    watch = safety.unsafe_watch(
        clock=case["clock"], cost=case["cost"], chain=case["chain"], margins=case["margins"]
    )
    replica = [r for r in safety.unsafe_replica_terms(**case) if r.startswith("clock")]
    assert bool(watch) == bool(replica)
    assert all("an honest watchtower could lose by clock" in r for r in watch)
