"""A state folder belongs to the chain it was made on (issue 17, item 1): a devnet torn down and
brought up again has the same chain id and the same contract addresses, but it is another chain;
the roles refuse the old state instead of silently ignoring every new job."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node.roles.context import RoleContext
from node.roles.localnet import LocalScenario, dev_account
from node.state import StateOfAnotherChain

pytestmark = pytest.mark.integration


def _ctx(sc: LocalScenario, folder: Path) -> RoleContext:
    return RoleContext.build(
        sc.w3,
        dev_account(2),
        sc.store,
        folder,
        dict(sc.local.deployment.addresses),
        sc.abis,
        sc.local.deployment.block,
    )


def test_state_of_a_restarted_devnet_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "provider"
    with LocalScenario(tmp_path / "first") as first:
        addresses = dict(first.local.deployment.addresses)
        _ctx(first, folder).close()
        _ctx(first, folder).close()  # the same chain again: accepted
    time.sleep(1.1)  # anvil's genesis hash changes with its start second
    with LocalScenario(tmp_path / "second") as second:
        assert dict(second.local.deployment.addresses) == addresses  # same deployer, same nonces
        with pytest.raises(StateOfAnotherChain, match="genesis .* here, .* now") as err:
            _ctx(second, folder)
        assert str(folder) in str(err.value)
        _ctx(second, tmp_path / "fresh").close()  # a fresh folder works
