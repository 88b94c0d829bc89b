"""The download helper against a local HTTP server: complete, resumed, interrupted and corrupt downloads."""
from __future__ import annotations

import hashlib
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bdlearn.worlds.download import DownloadError, default_cache_dir, download, partial_path

PAYLOAD = random.Random(0).randbytes(300_000)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
HALF = len(PAYLOAD) // 2


class FileServer(ThreadingHTTPServer):
    """Serves PAYLOAD at /file and 404 elsewhere; ``mode`` picks how it misbehaves."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "normal"  # "normal", "ignore_range" (always 200), "truncate" (stop at HALF)
        self.ranges: list[str | None] = []  # the Range header of every request to /file

    def url(self, path: str = "/file") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path != "/file":
            self.send_error(404)
            return
        requested = self.headers.get("Range")
        self.server.ranges.append(requested)
        start = 0
        if requested and self.server.mode != "ignore_range":
            start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        stop = HALF if self.server.mode == "truncate" else len(PAYLOAD)
        self.wfile.write(PAYLOAD[start:max(start, stop)])  # then the connection closes

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(autouse=True)
def downloads_on(monkeypatch):
    """These tests download from a local server: downloads on (the suite turns them off elsewhere)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def server():
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def fetch(srv: FileServer, dest: Path, **kwargs) -> Path:
    options = dict(sha256=SHA256, size=len(PAYLOAD), progress=False, retries=2, retry_wait=0.0, timeout=5.0)
    return download(srv.url(), dest, **(options | kwargs))


def test_complete_download(server, tmp_path):
    dest = tmp_path / "sub" / "weights.bin"
    assert fetch(server, dest) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not partial_path(dest).exists()
    assert server.ranges == [None]


def test_an_existing_file_is_not_fetched_again(server, tmp_path):
    dest = tmp_path / "weights.bin"
    fetch(server, dest)
    fetch(server, dest)
    assert server.ranges == [None]


def test_resumes_from_a_partial_file(server, tmp_path):
    dest = tmp_path / "weights.bin"
    partial_path(dest).write_bytes(PAYLOAD[:1000])
    fetch(server, dest)
    assert server.ranges == ["bytes=1000-"]
    assert dest.read_bytes() == PAYLOAD


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    server.mode = "ignore_range"
    dest = tmp_path / "weights.bin"
    partial_path(dest).write_bytes(b"x" * 1000)  # would corrupt the file if appended to
    fetch(server, dest)
    assert server.ranges == ["bytes=1000-"]
    assert dest.read_bytes() == PAYLOAD


def test_checksum_failure_deletes_the_file(server, tmp_path):
    dest = tmp_path / "weights.bin"
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        fetch(server, dest, sha256="0" * 64)
    assert not dest.exists() and not partial_path(dest).exists()


def test_size_mismatch_is_an_error(server, tmp_path):
    dest = tmp_path / "weights.bin"
    with pytest.raises(DownloadError, match=f"expected {len(PAYLOAD) + 1:,}"):
        fetch(server, dest, size=len(PAYLOAD) + 1)
    assert not dest.exists()


def test_a_server_that_stops_midway_leaves_a_resumable_part(server, tmp_path):
    server.mode = "truncate"
    dest = tmp_path / "weights.bin"
    with pytest.raises(DownloadError, match=r"(?s)stopped after .*run the same call again to resume"):
        fetch(server, dest)
    assert not dest.exists()
    assert partial_path(dest).read_bytes() == PAYLOAD[:HALF]
    assert server.ranges == [None, f"bytes={HALF}-"]  # the retry resumed

    server.mode = "normal"
    fetch(server, dest)
    assert server.ranges[-1] == f"bytes={HALF}-"
    assert dest.read_bytes() == PAYLOAD
    assert not partial_path(dest).exists()


def test_mirrors_are_tried_in_order(server, tmp_path):
    dest = tmp_path / "weights.bin"
    download(server.url("/gone"), dest, sha256=SHA256, mirrors=[server.url()], progress=False, retry_wait=0.0)
    assert dest.read_bytes() == PAYLOAD


def test_every_failure_is_reported(server, tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)/gone: HTTP 404.*/also-gone: HTTP 404"):
        download(server.url("/gone"), tmp_path / "w.bin", mirrors=[server.url("/also-gone")], progress=False)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BDLEARN_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("BDLEARN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "bdlearn"


def test_downloads_off_fail_at_once_saying_what_is_missing(server, tmp_path, monkeypatch):
    """HF_HUB_OFFLINE set: no connection is tried; the error names the file, the variable and the address."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dest = tmp_path / "weights.bin"
    with pytest.raises(DownloadError, match=r"weights\.bin is not in .*downloads are off \(HF_HUB_OFFLINE is set\)"):
        fetch(server, dest)
    assert server.ranges == [] and not dest.exists() and not partial_path(dest).exists()
    dest.write_bytes(PAYLOAD)  # a file already there is used, offline too
    assert fetch(server, dest) == dest
