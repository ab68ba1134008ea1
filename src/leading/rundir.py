r"""The run directory (``--out``): created and checked writable before any work, held by one
run at a time, and written so that a crash never leaves a half-written file.

* :func:`prepare_run_dir` creates the directory and proves it writable (a probe file), so a
  bad ``--out`` fails in the first second with the reason, not after an hour of training.
* :class:`RunLock` holds an exclusive lock on ``OUT/.lock`` (:func:`fcntl.flock`) for the
  whole run: a second run on the same directory is refused with the first one's process id.
  The operating system releases the lock when the holder exits, however it exits (``kill -9``
  included), so a stale lock never blocks a ``--resume``.
* :func:`write_json` writes atomically (a temporary file, then a rename) and
  :func:`read_json` names the file when it cannot be parsed.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from leading.errors import ConfigError, DataError

__all__ = ["RunLock", "prepare_run_dir", "read_json", "write_json"]


def prepare_run_dir(path: str | Path, flag: str = "--out") -> Path:
    r"""Creates :obj:`path` (and its parents) and checks that files can be written in it.

    Raises:
        ConfigError: naming the directory, the reason and the flag to change.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(
            f"output directory {path} cannot be created or written ({reason}); "
            f"pass a writable directory with {flag} DIR"
        ) from None
    return path


class RunLock:
    r"""An exclusive, advisory lock on ``directory/.lock`` held while the ``with`` block runs.

    Args:
        directory (str or Path): The run directory (it must exist).
        what (str): What holds it, for the message (default: ``"a run"``).
    """

    def __init__(self, directory: str | Path, what: str = "a run") -> None:
        self.path = Path(directory) / ".lock"
        self.what = what
        self._file: Any = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, as before
            return self
        f = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise ConfigError(
                f"{self.path.parent} is in use by {holder}; two runs on one output directory "
                "would overwrite each other's files. Wait for it to finish, stop it, or pass "
                "another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{self.what} (pid {os.getpid()} on {socket.gethostname()})\n")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path.parent)!r}, held={self._file is not None})"


def write_json(obj: Any, path: str | Path) -> None:
    r"""Writes :obj:`obj` as indented JSON to :obj:`path` atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def read_json(path: str | Path, what: str = "file") -> Any:
    r"""Reads the JSON at :obj:`path`; a file that cannot be read or parsed raises
    :class:`~leading.errors.DataError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(
            f"{path}: cannot read this {what} ({e}); delete it to recompute it"
        ) from None
