"""Where the pinned JavaScript toolchain lives (anvil and js-ipfs ship as npm packages)."""

from __future__ import annotations

import os
from pathlib import Path

from node.devnet.errors import ToolNotFound

# The package is installed editable from the repository, so the repository root (which holds
# node_modules/) is the parent of the package directory. The environment variable wins so an
# operator can point at another installation.
_ENV_VAR = "POC_NODE_MODULES"


def node_modules_dir() -> Path:
    """The node_modules folder holding anvil and js-ipfs."""
    explicit = os.environ.get(_ENV_VAR)
    if explicit:
        path = Path(explicit)
        if path.is_dir():
            return path
        raise ToolNotFound(f"{_ENV_VAR}={explicit} is not a directory")
    starts = [Path(__file__).resolve().parents[2], Path.cwd().resolve()]
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "node_modules"
            if (candidate / ".bin").is_dir():
                return candidate
    raise ToolNotFound(
        f"node_modules not found; run `npm ci` in the repository root or set {_ENV_VAR}"
    )


def _executable(path: Path, what: str) -> Path:
    if not path.exists():
        raise ToolNotFound(f"{what} not found at {path}; run `npm ci` in the repository root")
    return path


def anvil_executable() -> Path:
    """The native anvil binary from the npm package @foundry-rs/anvil-linux-amd64."""
    base = node_modules_dir()
    return _executable(base / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil", "anvil")


def jsipfs_executable() -> Path:
    """The js-ipfs command line (a node script with a shebang)."""
    return _executable(node_modules_dir() / "ipfs" / "src" / "cli.js", "jsipfs")
