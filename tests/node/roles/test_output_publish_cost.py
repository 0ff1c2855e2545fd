"""Issue 11, P6: what publishing an output on demand costs, and the jobs an honest provider
refuses because of it.

`publishOutput` is measured on the embedded chain for int8 and int32 outputs from one leaf to
the byte cap (node.roles.safety.MAX_OUTPUT_BYTES); safety.publish_gas must bound every
measurement and stay within a third of the largest (a bound that is not loose). The provider
refuses an output over the cap, and a job whose reward would not pay for a publication at the
chain's gas price; `poc job post` warns about both, by the same rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from roles_support import ETHER, TERMS

from node.program.compiler.builder import ProgramBuilder
from node.program.constants import DType
from node.program.spec import JobSpec
from node.roles import safety
from node.roles.client import JobClient
from node.roles.examples import random_mlp
from node.roles.provider import Provider, ProviderPolicy
from node.roles.records import ProviderStage

RICH = dataclasses.replace(TERMS, reward=ETHER)  # publication never outweighs this reward


def _int32_job(rows: int, cols: int) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    """One matmul whose int32 accumulator is the output: rows x cols x 4 bytes."""
    rng = np.random.default_rng(7)
    b = ProgramBuilder()
    x = b.data_input("x", rows, 32)
    w = b.constant("w", rng.integers(-127, 128, (cols, 32)), DType.INT8)
    program, constants = b.finish(b.matmul(x, w, rows, 32, cols))
    spec = JobSpec(program, constants, batch=rows, data_slot=0, meta={"example": "int32-out"})
    return spec, rng.integers(-128, 128, (rows, 32)).astype(np.int8)


def _int8_job(rows: int, cols: int) -> tuple[JobSpec, npt.NDArray[np.int8]]:
    return random_mlp((32, cols), rows, seed=7)


def _published_gas(make_ctx: Any, job: tuple[JobSpec, npt.NDArray[np.int8]]) -> tuple[int, int]:
    """(output bytes, gas used by publishOutput) for an honest provider asked for the output."""
    spec, data = job
    client = JobClient(make_ctx(1, "poster"))
    job_id = client.post(spec, data, RICH)
    provider = Provider(make_ctx(2, "provider"))
    provider.stake(ETHER)
    provider.tick()
    claim_id = client.ctx.deployment.market.job(job_id).current_claim
    client.demand_output(job_id)
    provider.tick()
    assert client.ctx.deployment.market.claim(claim_id).output_published
    sent = provider.ctx.state.tx(f"publish:{job_id}:{claim_id}")
    assert sent is not None and sent.tx_hash is not None
    receipt = provider.ctx.w3.eth.get_transaction_receipt(sent.tx_hash)
    nbytes = spec.program.spec(spec.program.output_slot).nbytes
    return nbytes, int(receipt["gasUsed"])


SIZES = [
    ("int8", 1, 32),  # one leaf
    ("int8", 3, 1024),
    ("int8", 96, 1024),  # 96 KiB: the cap
    ("int32", 1, 32),  # one 128-byte leaf
    ("int32", 24, 1024),  # 96 KiB
]


@pytest.mark.parametrize(("dtype", "rows", "cols"), SIZES)
def test_publish_gas_is_bounded_by_the_model(
    make_ctx: Any, dtype: str, rows: int, cols: int
) -> None:
    job = _int8_job(rows, cols) if dtype == "int8" else _int32_job(rows, cols)
    nbytes, gas = _published_gas(make_ctx, job)
    bound = safety.publish_gas(nbytes, safety.JobCost.of(job[0].program).output_leaves)
    print(f"publishOutput {dtype} {nbytes} bytes: {gas} gas (model {bound})")
    assert gas <= bound
    if nbytes == safety.MAX_OUTPUT_BYTES:
        assert gas >= bound * 2 // 3  # the bound is not loose where it decides
        assert bound * 100 * 10**9 < ETHER  # at 100 gwei the cap costs under 1 ETH


def test_provider_refuses_an_output_too_large_to_publish(make_ctx: Any) -> None:
    spec, data = _int8_job(128, 1024)  # 128 KiB
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, RICH)
    provider = Provider(make_ctx(2, "provider"))
    provider.stake(ETHER)
    provider.tick()
    rec = provider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.REFUSED
    assert f"output of {128 * 1024} bytes > {safety.MAX_OUTPUT_BYTES} bytes" in (rec.reason or "")
    assert provider.ctx.deployment.market.job(job_id).current_claim == 0
    # an operator may lower the cap: a 3 KiB output over a 1 KiB cap is refused
    small = JobClient(make_ctx(1, "poster2")).post(*_int8_job(3, 1024), RICH)
    strict = Provider(make_ctx(3, "strict"), ProviderPolicy(max_output_bytes=1024))
    strict.stake(ETHER)
    strict.tick()
    assert strict.record(small).stage == ProviderStage.REFUSED
    assert "output of 3072 bytes > 1024 bytes" in (strict.record(small).reason or "")


def test_provider_refuses_a_reward_below_the_cost_of_publishing(make_ctx: Any) -> None:
    spec, data = _int8_job(96, 1024)
    # at 30 gwei publishing a 96 KiB int8 output costs about 0.26 ETH, and twice that is asked
    terms = dataclasses.replace(TERMS, reward=ETHER // 10, challenger_bond=ETHER // 10)
    job_id = JobClient(make_ctx(1, "poster")).post(spec, data, terms)
    provider = Provider(make_ctx(2, "provider"), ProviderPolicy(gas_price=30 * 10**9))
    provider.stake(ETHER)
    provider.tick()
    rec = provider.record(job_id)
    assert rec is not None and rec.stage == ProviderStage.REFUSED
    assert "a demand would cost more than the job pays" in (rec.reason or "")
    shown = provider.status()["jobs"][job_id]  # what `poc provider status` prints
    assert "publishing the 98304-byte output on demand" in shown["reason"]


def test_poster_is_warned_about_outputs_providers_refuse(make_ctx: Any) -> None:
    client = JobClient(make_ctx(1, "poster"))
    big, _ = _int8_job(128, 1024)
    found = client.warnings(big, RICH, block_time=1.0)
    assert any("honest providers refuse: output of 131072 bytes >" in w for w in found)
    fine, _ = _int8_job(96, 1024)
    assert client.warnings(fine, RICH, block_time=1.0) == []
