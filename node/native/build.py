"""Build node/native/merkle.c into node/native/build/libpocmerkle.so.

    python -m node.native.build [--force]

Self-contained (own SHA-256, SHA-NI when the CPU has it), so it needs only a C compiler. Exits
non-zero with a message when no compiler is found; the hashlib fallback then stays in use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from node.native import LIB_DIR, LIB_PATH

SOURCE = Path(__file__).resolve().parent / "merkle.c"


def build(verbose: bool = True, force: bool = False) -> Path:
    if not force and LIB_PATH.exists() and LIB_PATH.stat().st_mtime >= SOURCE.stat().st_mtime:
        if verbose:
            print(f"{LIB_PATH} is up to date")
        return LIB_PATH
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SystemExit(
            "node.native.build: no C compiler (cc) found; hashlib fallback stays in use"
        )
    LIB_DIR.mkdir(parents=True, exist_ok=True)
    tmp = LIB_PATH.with_name(LIB_PATH.name + f".{__import__('os').getpid()}.tmp")
    cmd = [cc, "-O3", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE)]
    if verbose:
        print(" ".join(cmd))
    subprocess.run(cmd, check=True)
    tmp.replace(LIB_PATH)  # atomic, so a concurrent loader never sees half a file
    if verbose:
        print(f"built {LIB_PATH}")
    return LIB_PATH


if __name__ == "__main__":
    import sys

    build(force="--force" in sys.argv[1:])
