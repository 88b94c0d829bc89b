"""Downloading large files safely: resume after an interruption, check the result, never leave half a file.

The real world's diffusion model is a 2.2 GB file (:mod:`bdlearn.worlds.real`). :func:`download` fetches
such a file so that:

* bytes go to ``<dest>.part`` first; only a file that passed its checks is renamed to ``dest``
  (``os.replace`` is atomic), so a file at ``dest`` is always complete;
* an interrupted download resumes where it stopped: the next attempt asks the server for the
  missing bytes only (an HTTP ``Range`` request) and starts again from zero if the server
  ignores the request;
* the expected size and SHA-256 digest, when known, are checked, and a file that fails either
  check is deleted;
* transient failures (a dropped connection, a timeout, a server error) are retried a few times,
  then the next mirror is tried; every failure is reported in one :class:`DownloadError`;
* with downloads off (``HF_HUB_OFFLINE`` set, :mod:`bdlearn.offline`), a missing file is an error at once.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from bdlearn.errors import DownloadError
from bdlearn.offline import OFFLINE_ENV, downloads_are_off

CACHE_ENV = "BDLEARN_CACHE"
_CHUNK = 1 << 20
_USER_AGENT = "bdlearn (urllib)"


class _Retryable(Exception):
    """A failure worth another attempt at the same address (the partial file is kept)."""


def default_cache_dir() -> Path:
    """Where bdlearn keeps downloaded weights: ``$BDLEARN_CACHE`` if set, else ``~/.cache/bdlearn``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "bdlearn"


def sha256_of(path: str | Path) -> str:
    """The SHA-256 digest of a file, as 64 lowercase hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def partial_path(dest: str | Path) -> Path:
    """The file a download of ``dest`` writes to until it is complete: ``<dest>.part``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def _content_range_start(header: str | None) -> int | None:
    """The first byte of a ``Content-Range: bytes START-END/TOTAL`` header, or None."""
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header or "")
    return int(match.group(1)) if match else None


def _fetch(url: str, part: Path, size: int | None, timeout: float, progress: bool) -> None:
    """Append the bytes of ``url`` that ``part`` lacks; return when the server has sent them all.

    Raises :class:`_Retryable` for failures worth retrying and :class:`DownloadError` otherwise.
    """
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:  # longer than the whole file: not a prefix of it
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left after `offset`: finished, or a wrong file
            return
        if err.code >= 500 or err.code == 429:
            raise _Retryable(f"server error {err.code} {err.reason}") from err
        raise DownloadError(f"HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise _Retryable(f"could not connect: {getattr(err, 'reason', err)}") from err

    with response:
        if response.status == 206:
            if _content_range_start(response.headers.get("Content-Range")) != offset:
                part.unlink()
                raise _Retryable("the server sent a different part of the file than asked; starting again")
            mode = "ab"
        else:  # the whole file: no Range asked, or the server ignored it
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else size
        if size is not None and total is not None and total != size:
            raise DownloadError(f"the server offers {total:,} bytes, expected {size:,}")
        received = offset
        with open(part, mode) as out, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                           unit_divisor=1024, desc=part.name[:-len(".part")],
                                           disable=not progress) as bar:
            try:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as err:
                raise _Retryable(f"connection lost after {received:,} bytes: {err}") from err
    if total is not None and received < total:
        raise _Retryable(f"the server stopped after {received:,} of {total:,} bytes")


def _verify(part: Path, size: int | None, sha256: str | None) -> None:
    """Check the size and digest of a finished download; delete it and raise if either is wrong."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise DownloadError(f"the file has {actual_size:,} bytes, expected {size:,} (deleted)")
    if sha256 is not None:
        actual = sha256_of(part)
        if actual != sha256.lower():
            part.unlink()
            raise DownloadError(f"SHA-256 mismatch: got {actual}, expected {sha256.lower()} (deleted)")


def download(url: str, dest: str | Path, sha256: str | None = None, size: int | None = None,
             mirrors: Sequence[str] = (), progress: bool = True, retries: int = 3,
             timeout: float = 60.0, retry_wait: float = 2.0) -> Path:
    """Download ``url`` (then, if that fails, each of ``mirrors`` in turn) to ``dest``; return ``dest``.

    Args:
        url, mirrors: addresses of the same file, tried in this order.
        dest: where the file goes. If it already exists (with the right ``size``, when given),
            nothing is downloaded: files appear there only after passing their checks.
        sha256, size: the expected digest (hex) and length in bytes; None skips that check.
        progress: show a tqdm progress bar.
        retries: attempts per address for transient failures (dropped connection, timeout,
            5xx); each attempt resumes from the bytes already in ``<dest>.part``.
        timeout: seconds to wait for the server before giving up on an attempt.
        retry_wait: seconds before the second attempt, growing linearly after that.

    Raises:
        DownloadError: every address failed. The message lists why, and says when a partial
            file was kept so that calling again resumes the download.
    """
    dest = Path(dest)
    if dest.exists():
        if size is not None and dest.stat().st_size != size:
            raise DownloadError(f"{dest} exists but has {dest.stat().st_size:,} bytes, expected {size:,}; "
                                "delete it to download it again")
        return dest
    if dest.parent.exists() and not dest.parent.is_dir():
        raise DownloadError(f"{dest.parent} is a file, not a folder, so {dest.name} cannot be kept in it; point "
                            f"{CACHE_ENV} at a folder (it is made if missing)")
    if downloads_are_off():
        raise DownloadError(f"{dest.name} is not in {dest.parent}, and downloads are off ({OFFLINE_ENV} is set); "
                            f"unset {OFFLINE_ENV} to download it from {url}, or put the file there")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, a read-only home, ...
        raise DownloadError(f"cannot make the folder {dest.parent} for {dest.name} ({err.strerror or err}); "
                            f"point {CACHE_ENV} at a folder you can write") from None
    part = partial_path(dest)
    failures = []
    for source in (url, *mirrors):
        for attempt in range(1, retries + 1):
            try:
                _fetch(source, part, size, timeout, progress)
                _verify(part, size, sha256)
            except _Retryable as err:
                failures.append(f"{source} (attempt {attempt}/{retries}): {err}")
                if attempt < retries:
                    time.sleep(retry_wait * attempt)
                continue
            except DownloadError as err:
                failures.append(f"{source}: {err}")
                break
            os.replace(part, dest)
            return dest
    message = f"could not download {dest.name}:\n  " + "\n  ".join(failures)
    if part.exists() and part.stat().st_size:
        message += (f"\nThe {part.stat().st_size:,} bytes received so far are kept in {part}; "
                    "run the same call again to resume.")
    raise DownloadError(message)
