"""Node settings: pydantic-settings from POC_* environment variables and a config file
(JSON or TOML; `poc devnet up` writes one)."""

from node.config.settings import (
    ConfigError,
    ContractAddresses,
    Settings,
    default_config_path,
    load_settings,
    write_config,
)

__all__ = [
    "ConfigError",
    "ContractAddresses",
    "Settings",
    "default_config_path",
    "load_settings",
    "write_config",
]
