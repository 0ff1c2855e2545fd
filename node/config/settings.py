"""Settings of every poc role.

Precedence, highest first: explicit arguments, POC_* environment variables (nested fields with
`__`, e.g. POC_CONTRACTS__JOB_MARKET), the config file, defaults. The config file is the one
named by an argument, else by POC_CONFIG, else `.poc/config.json` or `.poc/config.toml` in the
working directory when present. Secrets never live here: only the name of the environment
variable holding the keystore password, or the path of a file holding it."""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from node.errors import PocError

ENV_PREFIX = "POC_"
DEFAULT_DATA_DIR = Path(".poc")
_config_file: ContextVar[Path | None] = ContextVar("poc_config_file", default=None)


class ConfigError(PocError):
    """The configuration is missing, unreadable or invalid."""

    exit_code = 3


class ContractAddresses(BaseModel):
    job_market: str | None = None
    stake_manager: str | None = None
    dispute_game: str | None = None
    tensor_step: str | None = None
    replica_market: str | None = None  # optional: replicated jobs (protocol.md 6.8)
    replica_game: str | None = None

    @field_validator("*")
    @classmethod
    def _is_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from eth_utils import is_address, to_checksum_address

        if not is_address(value):
            raise ValueError(f"not an address: {value!r}")
        return str(to_checksum_address(value))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore"
    )

    # chain
    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int | None = None  # checked against the endpoint when set
    contracts: ContractAddresses = ContractAddresses()
    start_block: int = 0  # the deployment block: scanners start there
    confirmations: int = 0
    rpc_timeout: float = 10.0  # seconds one JSON-RPC request may take before it is retried
    # account
    keystore: Path | None = None
    password_env: str = "POC_PASSWORD"
    password_file: Path | None = None
    # storage
    storage_backend: Literal["ipfs", "local"] = "ipfs"
    ipfs_api: str = "/ip4/127.0.0.1/tcp/5001/http"
    storage_timeout: float = 30.0
    # local files
    data_dir: Path = DEFAULT_DATA_DIR

    @field_validator("rpc_url")
    @classmethod
    def _is_rpc_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "ws://", "wss://")) and not (
            value.endswith(".ipc")
        ):
            raise ValueError(
                f"{value!r} is not an RPC endpoint: expected http(s)://host:port, ws(s)://… "
                "or the path of a .ipc socket"
            )
        return value

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def local_store_dir(self) -> Path:
        return self.data_dir / "store"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            if path.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                sources.append(JsonConfigSettingsSource(settings_cls, json_file=path))
        return tuple(sources)


def default_config_path(data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    return data_dir / "config.json"


def config_search() -> str:
    """Where settings were looked for, for messages about what is missing."""
    named = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if named:
        return f"{ENV_PREFIX}CONFIG={named}"
    here = Path.cwd()
    return (
        f"no --config, no {ENV_PREFIX}CONFIG, and neither {here / DEFAULT_DATA_DIR / 'config.json'} "
        f"nor {here / DEFAULT_DATA_DIR / 'config.toml'} exists"
    )


def _find_config(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    named = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if named:
        return _find_config(Path(named))
    for candidate in (DEFAULT_DATA_DIR / "config.json", DEFAULT_DATA_DIR / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from arguments, environment and the config file; ConfigError when invalid."""
    path = _find_config(config_file)
    token = _config_file.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        where = f" (config file {path})" if path else ""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings{where}: {problems}") from None
    except (OSError, ValueError) as exc:  # unreadable or malformed file
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    finally:
        _config_file.reset(token)


def write_config(path: Path, values: dict[str, Any]) -> None:
    """Write a JSON config file (validated first, so a bad file is never written)."""
    try:
        Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"refusing to write invalid settings: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(values, indent=2, default=str) + "\n")
    os.replace(tmp, path)
