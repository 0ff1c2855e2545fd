"""Settings precedence (arguments > POC_* env > config file > defaults) and named errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.config import ConfigError, load_settings, wiring, write_config
from node.storage.local import LocalStore

ADDRESS = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .poc/config.json of the developer leaks in
    for var in ("POC_CONFIG", "POC_RPC_URL", "POC_CHAIN_ID", "POC_CONTRACTS__JOB_MARKET"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_without_any_source() -> None:
    settings = load_settings()
    assert settings.storage_backend == "ipfs" and settings.state_db == Path(".poc/state.db")


def test_file_then_env_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cfg.json"
    write_config(
        path,
        {"rpc_url": "http://file:1", "chain_id": 5, "contracts": {"job_market": ADDRESS}},
    )
    settings = load_settings(path)
    assert settings.rpc_url == "http://file:1" and settings.chain_id == 5
    assert settings.contracts.job_market == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    monkeypatch.setenv("POC_RPC_URL", "http://env:2")
    assert load_settings(path).rpc_url == "http://env:2"
    assert load_settings(path, rpc_url="http://arg:3").rpc_url == "http://arg:3"


def test_nested_env_and_poc_config_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text('rpc_url = "http://toml:1"\nstorage_backend = "local"\n')
    monkeypatch.setenv("POC_CONFIG", str(path))
    monkeypatch.setenv("POC_CONTRACTS__JOB_MARKET", ADDRESS)
    settings = load_settings()
    assert settings.rpc_url == "http://toml:1" and settings.storage_backend == "local"
    assert settings.contracts.job_market is not None


def test_devnet_file_in_the_working_directory_is_found(tmp_path: Path) -> None:
    write_config(tmp_path / ".poc" / "config.json", {"chain_id": 31337})
    assert load_settings().chain_id == 31337


def test_invalid_values_are_a_config_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"contracts": {"job_market": "0x123"}, "storage_backend": "s3"}))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "contracts.job_market" in str(info.value) and "storage_backend" in str(info.value)


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.json")


def test_wiring_builds_the_configured_store(tmp_path: Path) -> None:
    settings = load_settings(storage_backend="local", data_dir=tmp_path / "data")
    store = wiring.content_store(settings)
    assert isinstance(store, LocalStore) and store.get(store.put(b"x")) == b"x"


def test_wiring_without_keystore_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="POC_KEYSTORE"):
        wiring.account(load_settings())
