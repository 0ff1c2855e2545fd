"""`poc provider run --max-output-kb N`: an operator may lower the output cap of the safety rule
(node.roles.safety.MAX_OUTPUT_BYTES, 96 KiB: what one transaction can publish on demand), never
raise it; the option reaches the daemon's policy and decides which jobs it refuses."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from poc_cli_support import poc
from roles_support import ETHER, TERMS

from node.roles import safety
from node.roles.client import JobClient
from node.roles.examples import random_mlp
from node.roles.provider import Provider, ProviderPolicy
from node.roles.records import ProviderStage

RICH = dataclasses.replace(TERMS, reward=ETHER)  # publication never outweighs this reward


def _run(make_ctx: Any, capsys: Any, monkeypatch: Any, index: int, *args: str) -> Provider:
    """`poc provider run --once ARGS` as account `index` of the test chain, staked."""
    from node.cli import role_options

    ctx = make_ctx(index, f"provider{index}")
    Provider(ctx).stake(ETHER)
    made: list[Provider] = []

    def build(_config: Any, _role: str, **policy: Any) -> Provider:
        made.append(Provider(ctx, ProviderPolicy(**policy)))
        return made[-1]

    monkeypatch.setattr(role_options, "build_daemon", build)
    monkeypatch.setattr(role_options, "setup_logging", lambda _fmt: None)  # keep pytest's
    ran = poc(capsys, monkeypatch, "provider", "run", "--once", *args)
    assert ran.code == 0, ran
    return made[0]


def test_the_default_is_the_cap_of_the_safety_rule() -> None:
    from node.cli.provider_cmds import MAX_OUTPUT_KB

    assert MAX_OUTPUT_KB * 1024 == safety.MAX_OUTPUT_BYTES


def test_a_lowered_cap_refuses_larger_outputs(make_ctx: Any, capsys: Any, monkeypatch: Any) -> None:
    spec, data = random_mlp((32, 1024), 3, seed=7)  # a 3 KiB int8 output
    assert spec.program.spec(spec.program.output_slot).nbytes == 3 * 1024
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, RICH)

    strict = _run(make_ctx, capsys, monkeypatch, 2, "--max-output-kb", "2")
    assert strict.policy.max_output_bytes == 2 * 1024
    rec = strict.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.REFUSED
    assert "output of 3072 bytes > 2048 bytes" in (rec.reason or "")

    default = _run(make_ctx, capsys, monkeypatch, 3)  # 96 KiB: the same job is taken
    assert default.policy.max_output_bytes == safety.MAX_OUTPUT_BYTES
    rec = default.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.SUBMITTED
    assert default.ctx.deployment.market.claim(rec.claim_id).provider == default.ctx.address


@pytest.mark.parametrize("bad", ["0", "97", "-4", "1.5", "lots"])
def test_a_bad_cap_is_a_usage_error_naming_the_option(
    capsys: Any, monkeypatch: Any, bad: str
) -> None:
    """Refused while parsing, before any key, chain or file is touched; above 96 KiB too (an
    output that large could not be published when the poster demands it)."""
    ran = poc(capsys, monkeypatch, "provider", "run", "--once", "--max-output-kb", bad)
    assert ran.code == 2, ran
    assert "--max-output-kb" in ran.err


def test_the_help_shows_the_option_and_its_default(capsys: Any, monkeypatch: Any) -> None:
    ran = poc(capsys, monkeypatch, "provider", "run", "--help")
    assert ran.code == 0, ran
    text = " ".join(ran.out.split())
    shown = text[text.index("--max-output-kb") : text.index("--block-time")]
    assert "[default: 96; 1<=x<=96]" in shown
