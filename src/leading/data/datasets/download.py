r"""The files a built-in dataset needs: where each one goes, where it comes from, and fetching
the missing ones (a download, unpacking a zip archive where there is one), with one
:class:`DataError` naming every file still missing, its URL and its target path.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leading.data.datasets.registry import data_dir
from leading.errors import DataError

__all__ = ["Source", "Required", "ensure_files", "download_url", "zip_fetcher", "file_fetcher"]

TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Source:
    r"""Where a group of required files comes from.

    Args:
        url (str, optional): Canonical public URL, fetched by :obj:`fetch`.
        fetch (Callable, optional): ``fetch(url)`` downloads and installs the files; :obj:`None`
            if they cannot be fetched automatically.
        note (str): How the download becomes the expected layout, or, without :obj:`fetch`, what
            to obtain by hand and where (shown in errors).
    """

    url: str | None = None
    fetch: Callable[[str], None] | None = None
    note: str = ""


@dataclass(frozen=True)
class Required:
    r"""A required file: the first existing of :obj:`paths` is used (with :obj:`gz`, each is
    also tried with ``.gz`` appended); :obj:`paths[0]` is where it should go."""

    paths: tuple[Path, ...]
    source: Source
    gz: bool = True

    def find(self) -> Path | None:
        for p in self.paths:
            gz = self.gz and p.suffix != ".gz"
            for cand in (p, p.with_name(p.name + ".gz")) if gz else (p,):
                if cand.is_file():
                    return cand
        return None


def ensure_files(name: str, required: Sequence[Required], download: bool) -> list[Path]:
    r"""Returns the path of each required file, downloading missing ones when :obj:`download`
    is set. Raises :class:`DataError` naming every missing file, its URL and its target path.

    Args:
        name (str): Dataset name for messages.
        required (Sequence[Required]): The files.
        download (bool): Whether missing files may be fetched from their canonical URLs.
    """
    missing = [r for r in required if r.find() is None]
    failures: list[str] = []
    if missing and download:
        tried: set[str] = set()
        for r in missing:
            src = r.source
            if src.fetch is None or src.url is None or src.url in tried:
                continue
            tried.add(src.url)
            try:
                src.fetch(src.url)
            except Exception as e:  # any network, HTTP, disk or archive failure
                failures.append(f"{src.url}: {type(e).__name__}: {e}")
        missing = [r for r in required if r.find() is None]
    if missing:
        why = "" if download else " (download=False, so nothing was fetched)"
        lines = [f"{name}: {len(missing)} required file(s) not found{why}:"]
        groups: dict[Source, list[Required]] = {}
        for r in missing:
            groups.setdefault(r.source, []).append(r)
        for src, reqs in groups.items():
            if src.fetch is not None:
                lines.append(f"  from {src.url}" + (f" ({src.note})" if src.note else "") + ":")
            else:
                lines.append(f"  not downloadable automatically; {src.note}:")
            lines.extend(f"    - {r.paths[0]}" for r in reqs)
        if failures:
            lines.append("download failed (no network?):")
            lines.extend(f"  {f}" for f in failures)
        lines.append("Place each file at the path shown (text files may also be gzipped, as .gz).")
        raise DataError("\n".join(lines))
    return [r.find() for r in required]  # type: ignore[misc]


def download_url(url: str, dest: Path, timeout: float = TIMEOUT_S) -> Path:
    r"""Downloads :obj:`url` to :obj:`dest` (via a temporary file, with a tqdm progress bar).

    Args:
        url (str): The URL.
        dest (Path): Target file; its folder is created.
        timeout (float): Socket timeout in seconds.
    """
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def zip_fetcher(root: Path, inner: str, target: Path, archive: str) -> Callable[[str], None]:
    r"""Returns ``fetch(url)``: downloads a zip to ``root/archive``, unpacks it and moves its
    folder :obj:`inner` to :obj:`target` (merging: files already present are kept)."""

    def fetch(url: str) -> None:
        path = download_url(url, root / archive)
        try:
            with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
                with zipfile.ZipFile(path) as z:
                    z.extractall(tmp)
                src = Path(tmp) / inner
                if not src.is_dir():
                    raise DataError(f"{path}: expected a folder {inner}/ inside the archive")
                for f in sorted(src.rglob("*")):
                    dst = target / f.relative_to(src)
                    if f.is_file() and not dst.exists():
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.move(str(f), dst)
        finally:
            path.unlink(missing_ok=True)

    return fetch


def file_fetcher(dest: Path) -> Callable[[str], None]:
    r"""Returns ``fetch(url)``: downloads the file to :obj:`dest`."""

    def fetch(url: str) -> None:
        download_url(url, dest)

    return fetch


def dataset_dir(root: str | Path | None, names: Sequence[str]) -> Path:
    r"""``root/names[0]``, or the first ``root/name`` that exists (OGB's archives unpack to e.g.
    ``arxiv/``, which OGB's own loader renames to ``ogbn_arxiv/``)."""
    base = data_dir(root)
    for n in names:
        if (base / n).is_dir():
            return base / n
    return base / names[0]
