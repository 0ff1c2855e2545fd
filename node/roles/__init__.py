"""The three users' roles: `client` (job poster), `provider` (daemon: claim, execute, submit,
defend, get paid) and `watchtower` (daemon: re-execute, challenge, win, collect). Each runs on
a `context.RoleContext` (web3, account, content store, SQLite state, the deployed `protocol`);
the daemons are idempotent `tick()` loops over chain state."""
