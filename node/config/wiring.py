"""Objects built from Settings: the content store, the state store, the chain connection and
the unlocked account. Roles and CLI commands get their services here, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.config.settings import ConfigError, Settings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from node.state import StateStore
    from node.storage import ContentStore


def content_store(settings: Settings) -> ContentStore:
    from node.storage import open_store

    return open_store(
        settings.storage_backend,
        ipfs_api=settings.ipfs_api,
        local_dir=settings.local_store_dir,
        timeout=settings.storage_timeout,
    )


def state_store(settings: Settings) -> StateStore:
    from node.state import StateStore

    return StateStore(settings.state_db)


def web3(settings: Settings) -> Web3:
    from node.chain.rpc import connect

    return connect(
        settings.rpc_url, expected_chain_id=settings.chain_id, timeout=settings.rpc_timeout
    )


def account(settings: Settings) -> LocalAccount:
    from node.chain import keystore

    if settings.keystore is None:
        raise ConfigError("no keystore configured (set POC_KEYSTORE or `keystore` in the config)")
    password = keystore.read_password(settings.password_env, settings.password_file)
    return keystore.load(settings.keystore, password)
