"""`poc explorer` as an operator runs it: a subprocess reading a config file, on a real anvil with
the protocol deployed, serving until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from node.devnet.pytest_fixtures import ProtocolDeployment, anvil_node, protocol_deployment

__all__ = ["anvil_node", "protocol_deployment"]  # fixtures used here

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ETHER = 10**18


def _post_a_job(dep: ProtocolDeployment, work: Path) -> int:
    from node.chain.rpc import connect
    from node.roles.client import JobClient, JobTerms
    from node.roles.context import RoleContext
    from node.roles.examples import tiny_mlp
    from node.roles.localnet import dev_account
    from node.storage.local import LocalStore

    w3 = connect(dep.rpc_url)
    ctx = RoleContext.build(
        w3,
        dev_account(1),
        LocalStore(work / "store"),
        work / "poster",
        dep.addresses.model_dump(),
        start_block=dep.start_block,
    )
    try:
        spec, data = tiny_mlp(seed=3)
        terms = JobTerms(ETHER // 10, ETHER // 2, ETHER // 50, 600, 120, 300)
        return JobClient(ctx).post(spec, data, terms)
    finally:
        ctx.close()


def test_explorer_serves_the_configured_deployment_until_interrupted(
    protocol_deployment: ProtocolDeployment, tmp_path: Path
) -> None:
    job_id = _post_a_job(protocol_deployment, tmp_path)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "rpc_url": protocol_deployment.rpc_url,
                "chain_id": protocol_deployment.chain_id,
                "contracts": protocol_deployment.addresses.model_dump(),
                "start_block": protocol_deployment.start_block,
                "storage_backend": "local",
                "data_dir": str(tmp_path / "data"),
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli.main", "explorer", "--port", "0", "--config", str(config)],
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "explorer: http://127.0.0.1:PORT/ (chain ..."
        assert line.startswith("explorer: http://127.0.0.1:"), line
        url = line.split()[1]
        assert f"chain {protocol_deployment.chain_id}" in line
        with urllib.request.urlopen(url + "api/jobs", timeout=30) as r:
            listing = json.loads(r.read())
        assert [(j["job_id"], j["state"]) for j in listing["jobs"]] == [(job_id, "open")]
        with urllib.request.urlopen(url + f"jobs/{job_id}", timeout=30) as r:
            assert f"job {job_id}" in r.read().decode()
        # the poster's state folder is not under this config's data folder: none is read
        with urllib.request.urlopen(url + "api/status", timeout=30) as r:
            status = json.loads(r.read())
        assert not any(f["used"] for f in status["state_folders"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0 and "explorer stopped" in err, err
    assert "Traceback" not in err
