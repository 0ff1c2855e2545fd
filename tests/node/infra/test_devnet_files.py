"""Files the devnet and the setup write (issue 17, item 13): the dev password file is private,
and the native kernel is rebuilt only when its source changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def test_the_devnet_password_file_is_0600(tmp_path: Path) -> None:
    from node.devnet.devnet import _write_dev_keystores

    _write_dev_keystores(tmp_path)
    mode = stat.S_IMODE((tmp_path / "password").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "keys").iterdir())


def test_the_native_kernel_is_rebuilt_only_when_its_source_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import node.native.build as native

    source = tmp_path / "merkle.c"
    source.write_text((Path(native.__file__).parent / "merkle.c").read_text())
    lib = tmp_path / "build" / "libpocmerkle.so"
    monkeypatch.setattr(native, "SOURCE", source)
    monkeypatch.setattr(native, "LIB_PATH", lib)
    monkeypatch.setattr(native, "LIB_DIR", lib.parent)
    native.build()
    built = lib.stat().st_mtime_ns
    native.build()
    assert "up to date" in capsys.readouterr().out and lib.stat().st_mtime_ns == built
    # the source is now newer than the build (relative to the source: a slow build under load
    # may take more than a second)
    older = source.stat().st_mtime_ns - 10**10
    os.utime(lib, ns=(older, older))
    native.build()
    assert "up to date" not in capsys.readouterr().out and lib.stat().st_mtime_ns >= built
