"""Container logs: the pure choices (file, tail, options) and the kubelet's /containerLogs
endpoint over real HTTP on loopback, on real files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

import random

from svcnet.kubelet import logs as L
from svcnet.kubelet.logs import LogRequestError, LogServer, log_files, parse_log_options, select_log, tail, tail_start


@pytest.mark.parametrize(
    "data, lines, limit, want",
    [
        (b"a\nb\nc\n", None, None, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 2, None, b"b\nc\n"),
        (b"a\nb\nc", 1, None, b"c"),  # a last line without a newline counts
        (b"a\nb\nc\n", 10, None, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, None, b""),
        (b"a\nb\nc\n", None, 3, b"a\nb"),
        (b"a\nb\nc\n", 2, 3, b"b\nc"),  # tail first, then the byte limit
        (b"", 5, 5, b""),
    ],
)
def test_tail(data, lines, limit, want):
    assert tail(data, lines, limit) == want


def test_log_files_are_ordered_by_restart_count(tmp_path):
    for n in (0, 10, 2, 1):
        (tmp_path / f"{n}.log").write_text(str(n))
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in log_files(tmp_path)] == ["0.log", "1.log", "2.log", "10.log"]
    assert log_files(tmp_path / "missing") == []


def test_select_log(tmp_path):
    files = [tmp_path / "0.log", tmp_path / "1.log"]
    assert select_log(files, False, "c", "p") == files[1]
    assert select_log(files, True, "c", "p") == files[0]
    with pytest.raises(LogRequestError, match='^previous terminated container "c" in pod "p" not found$'):
        select_log(files[:1], True, "c", "p")
    with pytest.raises(LogRequestError, match='^container "c" in pod "p" is waiting to start: ContainerCreating$'):
        select_log([], False, "c", "p")


@pytest.mark.parametrize(
    "query, want",
    [
        ({}, {"follow": False, "previous": False, "tail_lines": None, "limit_bytes": None}),
        ({"follow": "true", "previous": "true", "tailLines": "3", "limitBytes": "10"}, {"follow": True, "previous": True, "tail_lines": 3, "limit_bytes": 10}),
        ({"timestamps": "false"}, {"follow": False, "previous": False, "tail_lines": None, "limit_bytes": None}),
    ],
)
def test_parse_log_options(query, want):
    assert parse_log_options(query) == want


@pytest.mark.parametrize(
    "query, text",
    [
        ({"tailLines": "-1"}, "tailLines: Invalid value: -1: must be greater than or equal to 0"),
        ({"limitBytes": "0"}, "limitBytes: Invalid value: 0: must be greater than or equal to 1"),
        ({"tailLines": "x"}, "tailLines: Invalid value: 'x': must be an integer"),
        ({"timestamps": "true"}, "timestamps is not supported by svcnet: process logs carry no per-line times"),
        ({"sinceSeconds": "60"}, "sinceSeconds is not supported by svcnet: process logs carry no per-line times"),
    ],
)
def test_parse_log_options_errors(query, text):
    with pytest.raises(LogRequestError) as e:
        parse_log_options(query)
    assert str(e.value) == text


@pytest.fixture
async def server(tmp_path):
    """A log server for one pod ``default/web`` with container ``app`` (logs under tmp_path)."""
    cdir = tmp_path / "app"
    cdir.mkdir()

    def locate(ns: str, pod: str, container: str) -> Path:
        if (ns, pod) != ("default", "web"):
            raise LogRequestError(f'pod "{pod}" in namespace "{ns}" is not running on node n1')
        if container != "app":
            raise LogRequestError(f"container {container} is not valid for pod {pod}")
        return cdir

    srv = LogServer(locate)
    port = await srv.start("127.0.0.1", 0)
    async with aiohttp.ClientSession() as s:
        yield s, f"http://127.0.0.1:{port}/containerLogs", cdir
    await srv.stop()


async def test_server_answers_logs_and_errors(server):
    s, base, cdir = server
    async with s.get(f"{base}/default/web/app") as r:
        assert (r.status, await r.text()) == (400, 'container "app" in pod "web" is waiting to start: ContainerCreating')
    (cdir / "0.log").write_bytes(b"first run\n")
    (cdir / "1.log").write_bytes(b"one\ntwo\nthree\n")
    async with s.get(f"{base}/default/web/app") as r:
        assert (r.status, r.content_type, await r.read()) == (200, "text/plain", b"one\ntwo\nthree\n")
    async with s.get(f"{base}/default/web/app", params={"tailLines": "2"}) as r:
        assert await r.read() == b"two\nthree\n"
    async with s.get(f"{base}/default/web/app", params={"previous": "true"}) as r:
        assert await r.read() == b"first run\n"
    async with s.get(f"{base}/default/web/other") as r:
        assert (r.status, await r.text()) == (400, "container other is not valid for pod web")
    async with s.get(f"{base}/default/nope/app") as r:
        assert r.status == 400 and "is not running on node n1" in await r.text()


async def test_follow_streams_what_is_appended_and_ends_on_restart(server):
    s, base, cdir = server
    log = cdir / "0.log"
    log.write_bytes(b"start\n")
    async with s.get(f"{base}/default/web/app", params={"follow": "true"}, timeout=aiohttp.ClientTimeout(total=10)) as r:
        assert await r.content.readline() == b"start\n"
        with open(log, "ab") as f:
            f.write(b"more\n")
        assert await asyncio.wait_for(r.content.readline(), 5) == b"more\n"
        (cdir / "1.log").write_bytes(b"restarted\n")  # a new run: this follow ends
        assert await asyncio.wait_for(r.content.read(), 5) == b""


async def test_follow_with_a_byte_limit_stops_at_it(server):
    s, base, cdir = server
    (cdir / "0.log").write_bytes(b"abc")
    async with s.get(f"{base}/default/web/app", params={"follow": "true", "limitBytes": "5"}, timeout=aiohttp.ClientTimeout(total=10)) as r:
        assert await r.content.readexactly(3) == b"abc"
        with open(cdir / "0.log", "ab") as f:
            f.write(b"defgh")
        assert await asyncio.wait_for(r.content.read(), 5) == b"de"


@pytest.mark.parametrize("seed", range(40))
def test_tail_start_on_a_file_agrees_with_tail(tmp_path, monkeypatch, seed):
    """Block-wise from the end (small blocks here, so lines straddle them) = tail() of it all."""
    monkeypatch.setattr(L, "CHUNK", 7)
    rng = random.Random(seed)
    data = b"".join(rng.choice([b"\n", b"x" * rng.randint(0, 20) + b"\n", b"yy"]) for _ in range(rng.randint(0, 30)))
    path = tmp_path / "0.log"
    path.write_bytes(data)
    for n in (0, 1, 2, 5, 100):
        with open(path, "rb") as f:
            start = tail_start(f, len(data), n)
        assert data[start:] == tail(data, n, None), (data, n)


async def test_follow_ends_when_the_container_stops(tmp_path):
    cdir = tmp_path / "app"
    cdir.mkdir()
    (cdir / "0.log").write_bytes(b"last words\n")
    running = {"yes": True}
    srv = LogServer(lambda ns, pod, c: cdir, lambda ns, pod, c: running["yes"])
    port = await srv.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/containerLogs/default/web/app", params={"follow": "true"},
                             timeout=aiohttp.ClientTimeout(total=10)) as r:
                assert await r.content.readline() == b"last words\n"
                with open(cdir / "0.log", "ab") as f:
                    f.write(b"exit 1\n")
                running["yes"] = False  # the bytes written before it stopped still come
                assert await asyncio.wait_for(r.content.read(), 5) == b"exit 1\n"
    finally:
        await srv.stop()


async def test_stop_ends_a_follow_whose_client_went_quiet(tmp_path):
    """An abandoned follow does not hold the server's stop (aiohttp's default is 60 s)."""
    cdir = tmp_path / "app"
    cdir.mkdir()
    (cdir / "0.log").write_bytes(b"x\n")
    srv = LogServer(lambda ns, pod, c: cdir)
    port = await srv.start("127.0.0.1", 0)
    s = aiohttp.ClientSession()
    r = await s.get(f"http://127.0.0.1:{port}/containerLogs/default/web/app", params={"follow": "true"})
    assert await r.content.readline() == b"x\n"
    r.close()
    await s.close()
    await asyncio.wait_for(srv.stop(), 10)  # a hang guard, not a speed check
