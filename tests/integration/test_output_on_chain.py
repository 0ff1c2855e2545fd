"""Issue 11, P6 on a real anvil and a real IPFS node: `poc provider run` (from poc_lab, storing a
corrupted output blob in IPFS under a correct output root) as a daemon; the poster's
`poc job result` says the output cannot be had and names `poc job demand-output`; the poster
demands it; the daemon publishes the true output on chain; after finalization `poc job result`
reads it from the chain and checks it against the accepted root."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from roles_helpers import advance, daemon, lab, poc, role_config, wait_for

from node.chain.abi import protocol_abis as load_abis
from node.chain.contracts.job_market import ClaimState, JobState
from node.chain.rpc import connect
from node.roles import safety
from node.roles.client import JobClient
from node.roles.context import RoleContext
from node.roles.examples import tiny_mlp
from node.roles.localnet import deploy_local, dev_account
from node.storage.ipfs import IpfsStore
from node.trace.lazy import provider_for_spec

pytestmark = pytest.mark.integration
WINDOW = 120


@pytest.fixture(scope="module")
def deployed(anvil_node: Any, ipfs_node: Any) -> dict[str, Any]:
    w3 = connect(anvil_node.rpc_url)
    local = deploy_local(w3, dev_account(0))
    return {
        "w3": w3,
        "rpc_url": anvil_node.rpc_url,
        "ipfs_api": ipfs_node.api_addr,
        "contracts": dict(local.deployment.addresses),
        "start_block": local.deployment.block,
        "abis": load_abis(local.abi_dir),
    }


@pytest.fixture
def net(deployed: dict[str, Any], anvil_snapshot: Any) -> Iterator[dict[str, Any]]:
    yield deployed


def _config(net: dict[str, Any], folder: Path, index: int) -> Path:
    return role_config(
        folder, index, net["rpc_url"], net["ipfs_api"], net["contracts"], net["start_block"]
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_a_corrupted_ipfs_output_comes_back_from_the_chain(
    net: dict[str, Any], tmp_path: Path
) -> None:
    w3 = net["w3"]
    poster_cfg = _config(net, tmp_path / "poster", 1)
    provider_cfg = _config(net, tmp_path / "provider", 2)
    reader = RoleContext.build(
        w3,
        dev_account(5),
        IpfsStore(net["ipfs_api"], 5.0),
        tmp_path / "reader",
        dict(net["contracts"]),
        net["abis"],
        net["start_block"],
    )
    market = reader.deployment.market
    posted = poc(
        ["job", "post", "--example", "tiny-mlp", "--window", str(WINDOW), "--clock", "300"]
        + ["--json"],
        poster_cfg,
    )
    assert posted.returncode == 0, posted.stderr
    job_id = json.loads(posted.stdout)["job_id"]
    assert poc(["provider", "stake", "1"], provider_cfg).returncode == 0
    proc = daemon(
        ["provider", "run"],
        provider_cfg,
        tmp_path / "provider.log",
        lab("--provider-output", "corrupt"),
    )
    try:
        wait_for(
            lambda: (
                market.job(job_id).current_claim != 0
                and market.claim(market.job(job_id).current_claim).state == ClaimState.SUBMITTED
            ),
            90,
            "the submission",
            [proc],
        )
        claim_id = market.job(job_id).current_claim
        out = tmp_path / "y.npy"
        lost = poc(["job", "result", str(job_id), "--out", str(out)], poster_cfg)
        assert lost.returncode == 13, lost.stderr
        assert f"poc job demand-output {job_id}" in lost.stderr and "hashes to" in lost.stderr

        demanded = poc(["job", "demand-output", str(job_id), "--json"], poster_cfg)
        assert demanded.returncode == 0, demanded.stderr
        assert json.loads(demanded.stdout)["due"] > 0
        again = poc(["job", "demand-output", str(job_id)], poster_cfg)
        assert again.returncode == 9 and "already" in again.stderr
        wait_for(lambda: market.claim(claim_id).output_published, 60, "the publication", [proc])

        advance(w3, WINDOW + 1)
        wait_for(lambda: market.job(job_id).state == JobState.FINALIZED, 60, "finalization", [proc])
    finally:
        _stop(proc)

    res = poc(["job", "result", str(job_id), "--out", str(out), "--raw", "--json"], poster_cfg)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["verified"] is True and shown["source"] == "chain"
    assert "hashes to" in shown["note"]
    spec, data = tiny_mlp()
    expected = provider_for_spec(spec, data).values(spec.program.output_slot)
    assert np.array_equal(np.load(out), expected)
    # the result as the Python client sees it, and the publication's gas on anvil
    assert JobClient(reader).result(job_id).source == "chain"
    published = market.output_published(claim_id)
    assert published is not None
    block = w3.eth.get_block(published.block_number, full_transactions=True)
    (tx,) = [t for t in block["transactions"] if t["from"] == dev_account(2).address]
    gas = int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
    nbytes = spec.program.spec(spec.program.output_slot).nbytes
    print(f"publishOutput on anvil: {nbytes} bytes, {gas} gas")
    assert gas <= safety.publish_gas(nbytes, safety.JobCost.of(spec.program).output_leaves)
