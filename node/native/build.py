"""Build node/native/merkle.c into node/native/build/libpocmerkle.so.

    python -m node.native.build

Links the system libcrypto by its full path (no OpenSSL headers needed). Exits non-zero with a
message when no compiler or libcrypto is found; the hashlib fallback then stays in use."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from node.native import LIB_DIR, LIB_PATH

SOURCE = Path(__file__).resolve().parent / "merkle.c"
LIBCRYPTO_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    "/usr/lib/aarch64-linux-gnu/libcrypto.so.3",
    "/usr/lib64/libcrypto.so.3",
    "/usr/lib/libcrypto.so.3",
    "/usr/local/lib/libcrypto.so.3",
)


def find_libcrypto() -> str | None:
    for cand in LIBCRYPTO_CANDIDATES:
        if Path(cand).exists():
            return cand
    return None


def build(verbose: bool = True) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SystemExit("node.native.build: no C compiler (cc) found; hashlib fallback stays in use")
    crypto = find_libcrypto()
    if crypto is None:
        raise SystemExit("node.native.build: libcrypto.so.3 not found; hashlib fallback stays in use")
    LIB_DIR.mkdir(parents=True, exist_ok=True)
    tmp = LIB_PATH.with_suffix(".so.tmp")
    cmd = [cc, "-O3", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE), crypto,
           f"-Wl,-rpath,{Path(crypto).parent}"]
    if verbose:
        print(" ".join(cmd))
    subprocess.run(cmd, check=True)
    tmp.replace(LIB_PATH)  # atomic, so a concurrent loader never sees half a file
    if verbose:
        print(f"built {LIB_PATH}")
    return LIB_PATH


if __name__ == "__main__":
    build()
    sys.exit(0)
