"""Built-in stand-ins for well-known demo images: ``python -m svcnet.kubelet.standin <kind> [args]``.

Theory of operation
-------------------
Local mode runs containers as host processes, so images that only name an image (agnhost,
nginx, httpd, svcnet/echo, pause) run this module instead (:mod:`svcnet.kubelet.images` decides).
Every stand-in:

- binds **only** ``$POD_IP`` (never 0.0.0.0): each pod owns its loopback address;
- answers as the pod: its "hostname" is ``$HOSTNAME`` (the pod name, as in a real pod);
- on SIGTERM/SIGINT stops accepting, closes idle keep-alive connections, lets requests in
  flight finish (their responses carry ``Connection: close``) and exits 0 — like Go's
  ``http.Server.Shutdown``;
- on a bind error prints ``svcnet: cannot bind IP:PORT/PROTO: <strerror>`` to stderr and exits
  with :data:`~svcnet.kubelet.images.BIND_FAILED_EXIT` so the kubelet reports ``BindFailed``;
- speaks HTTP/1.1 with keep-alive and pipelining through a small asyncio ``Protocol`` (benchmarks
  drive these servers, so no per-request logging and no framework).

Kinds (behaviour follows upstream ``test/images/agnhost`` where one exists):

``agnhost serve-hostname [--port=9376] [--http=true] [--tcp] [--udp] [--close]``
    HTTP: any path answers the hostname; TCP: write the hostname and close; UDP: reply the
    hostname. HTTP together with TCP/UDP is refused, as upstream does. (Upstream sleeps 60 s
    after SIGTERM "awaiting pod deletion"; we exit at once.)
``agnhost netexec [--http-port=8080] [--udp-port=8081]``
    HTTP ``/`` (``NOW: <time>``), ``/hostname``, ``/echo?msg=&code=``, ``/clientip``,
    ``/healthz`` (200 once the UDP server runs, else 412, as upstream), ``/readyz`` (200 until
    shutdown; svcnet addition), ``/exit?code=&timeout=&wait=``, ``/shutdown``, ``/redirect``,
    ``/dial?host=&port=&request=&protocol=http|udp&tries=``; UDP ``hostname``, ``echo <msg>``,
    ``clientip``. ``--udp-port=-1`` disables UDP. ``/shell`` and ``/upload`` are not provided.
``agnhost pause`` / ``pause``
    Sleep until signalled.
``nginx`` / ``httpd``
    A static default page naming the pod on every declared TCP containerPort (default 80).
``echo [--http-port=P] [--tcp-port=P] [--udp-port=P]`` (image ``svcnet/echo``)
    HTTP: JSON ``{"pod", "namespace", "ip", "node", "port", "method", "path", "client",
    "client_port"}`` (+ ``"body"`` when one was sent) on the first declared TCP port (default
    8080). TCP echo: a JSON hello line, then every byte echoed. UDP: a JSON reply with the
    datagram as ``"data"``. The UDP port defaults to the first declared UDP containerPort.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from svcnet.kubelet.images import BIND_FAILED_EXIT, BIND_FAILED_PREFIX, ENV_PORTS, parse_ports, resolve

__all__ = ["App", "HTTPProtocol", "Request", "main", "parse_go_flags"]

Response = tuple[int, list[tuple[str, str]], bytes]
Handler = Callable[["Request"], "Response | Awaitable[Response]"]


class UsageError(Exception):
    pass


# -- flags ------------------------------------------------------------------------------------


def parse_go_flags(args: list[str], spec: dict[str, object]) -> dict[str, object]:
    """Go ``flag``/pflag style: ``-x``, ``--x``, ``--x=v``, ``--x v``; bools take no separate
    value (``--close``, ``--http=false``). ``spec`` maps names to defaults (their type rules)."""
    out = dict(spec)
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a in ("-", "--"):
            raise UsageError(f"unexpected argument {a!r}")
        name, eq, value = a.lstrip("-").partition("=")
        if name not in spec:
            raise UsageError(f"unknown flag: --{name}")
        default = spec[name]
        if isinstance(default, bool):
            if eq and value.lower() not in ("1", "0", "t", "f", "true", "false"):
                raise UsageError(f"invalid boolean value {value!r} for --{name}")
            out[name] = (value.lower() in ("1", "t", "true")) if eq else True
        else:
            if not eq:
                i += 1
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: --{name}")
                value = args[i]
            try:
                out[name] = int(value) if isinstance(default, int) else value
            except ValueError:
                raise UsageError(f"invalid value {value!r} for --{name}") from None
        i += 1
    return out


def _go_duration(s: str) -> float:
    if s in ("", "0"):
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ValueError(s)
    return sum(float(a) * units[b] for a, b in parts)


# -- the process ------------------------------------------------------------------------------


class App:
    """Listeners, connections and the shutdown sequence of one stand-in process."""

    def __init__(self) -> None:
        self.ip = os.environ.get("POD_IP", "")
        self.pod = os.environ.get("POD_NAME", "")
        self.namespace = os.environ.get("POD_NAMESPACE", "")
        self.node = os.environ.get("NODE_NAME", "")
        self.hostname = os.environ.get("HOSTNAME") or self.pod
        self.ports = parse_ports(os.environ.get(ENV_PORTS))
        self.servers: list[asyncio.base_events.Server] = []
        self.datagrams: list[asyncio.DatagramTransport] = []
        self.conns: set[HTTPProtocol | _StreamProtocol] = set()
        self.closing = False
        self.exit_code = 0
        self.stop = asyncio.Event()
        self.udp_ready = False

    def declared(self, proto: str) -> list[int]:
        return [p for _n, p, pr in self.ports if pr == proto]

    def _bind_failed(self, port: int, proto: str, e: OSError) -> None:
        why = os.strerror(e.errno) if e.errno else str(e)  # asyncio rewords strerror; keep the classic text
        print(f"{BIND_FAILED_PREFIX}{self.ip}:{port}/{proto}: {why}", file=sys.stderr, flush=True)
        raise SystemExit(BIND_FAILED_EXIT)

    async def listen_http(self, port: int, handler: Handler, server_header: str = "") -> None:
        loop = asyncio.get_running_loop()
        try:
            srv = await loop.create_server(
                lambda: HTTPProtocol(self, handler, server_header), self.ip, port, reuse_address=True, backlog=1024
            )
        except OSError as e:
            self._bind_failed(port, "TCP", e)
        self.servers.append(srv)

    async def listen_stream(self, port: int, on_connect: Callable[["_StreamProtocol"], None], echo: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            srv = await loop.create_server(
                lambda: _StreamProtocol(self, on_connect, echo), self.ip, port, reuse_address=True, backlog=1024
            )
        except OSError as e:
            self._bind_failed(port, "TCP", e)
        self.servers.append(srv)

    async def listen_udp(self, port: int, handler: Callable[[bytes, tuple], bytes | None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            tr, _ = await loop.create_datagram_endpoint(lambda: _UDPProtocol(handler), local_addr=(self.ip, port))
        except OSError as e:
            self._bind_failed(port, "UDP", e)
        self.datagrams.append(tr)

    def request_exit(self, code: int = 0) -> None:
        self.exit_code = code
        self.stop.set()

    async def shutdown(self, timeout: float = 25.0) -> None:
        """Stop accepting, drop idle connections, let busy ones finish (bounded)."""
        self.closing = True
        for s in self.servers:
            s.close()
        for t in self.datagrams:
            t.close()
        self.udp_ready = False
        for c in list(self.conns):
            c.close_if_idle()
        deadline = time.monotonic() + timeout
        while self.conns and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, tuple], bytes | None]):
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        reply = self.handler(data, addr)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class _StreamProtocol(asyncio.Protocol):
    """Raw TCP: ``on_connect`` writes a greeting; ``echo`` sends every byte back."""

    def __init__(self, app: App, on_connect: Callable[["_StreamProtocol"], None], echo: bool):
        self.app, self.on_connect, self.echo = app, on_connect, echo
        self.transport: asyncio.Transport | None = None
        self.peer: tuple = ("", 0)
        self.local: tuple = ("", 0)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.peer = transport.get_extra_info("peername") or ("", 0)
        self.local = transport.get_extra_info("sockname") or ("", 0)
        self.app.conns.add(self)
        self.on_connect(self)

    def data_received(self, data: bytes) -> None:
        if self.echo and self.transport is not None:
            self.transport.write(data)

    def close_if_idle(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.app.conns.discard(self)


# -- HTTP/1.1 ---------------------------------------------------------------------------------

_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode())
    return _date_cache[1]


_PHRASES = {s.value: s.phrase.encode() for s in HTTPStatus}
MAX_HEAD = 64 * 1024


class Request:
    __slots__ = ("method", "target", "version", "headers", "body", "peer", "local", "_split")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], body: bytes, peer: tuple, local: tuple):
        self.method, self.target, self.version = method, target, version
        self.headers, self.body, self.peer, self.local = headers, body, peer, local
        self._split = None

    @property
    def path(self) -> str:
        if self._split is None:
            self._split = urlsplit(self.target)
        return self._split.path

    def query(self, name: str, default: str = "") -> str:
        if self._split is None:
            self._split = urlsplit(self.target)
        vals = parse_qs(self._split.query, keep_blank_values=True).get(name)
        return vals[0] if vals else default


class HTTPProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse, call the handler, write; keep-alive and pipelining."""

    def __init__(self, app: App, handler: Handler, server_header: str = ""):
        self.app, self.handler = app, handler
        self.server = server_header.encode()
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple = ("", 0)
        self.local: tuple = ("", 0)
        self.pending: asyncio.Task | None = None  # an async handler in progress
        self.closed = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.peer = transport.get_extra_info("peername") or ("", 0)
        self.local = transport.get_extra_info("sockname") or ("", 0)
        self.app.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.app.conns.discard(self)
        if self.pending is not None:
            self.pending.cancel()

    def close_if_idle(self) -> None:
        if self.pending is None and not self.buf and self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.pending is None:
            self._process()

    def _process(self) -> None:
        while self.buf and not self.closed and self.pending is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._simple(431, b"request header too large", close=True)
                return
            try:
                lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    headers[k.strip().lower()] = v.strip()
            except ValueError:
                self._simple(400, b"bad request", close=True)
                return
            start = end + 4
            if "chunked" in headers.get("transfer-encoding", "").lower():
                got = _dechunk(self.buf, start)
                if got is None:
                    return
                body, consumed = got
            else:
                try:
                    n = int(headers.get("content-length") or 0)
                except ValueError:
                    self._simple(400, b"bad content-length", close=True)
                    return
                if len(self.buf) < start + n:
                    return
                body, consumed = bytes(self.buf[start : start + n]), start + n
            del self.buf[:consumed]
            conn = headers.get("connection", "").lower()
            keep = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
            req = Request(method, target, version, headers, body, self.peer, self.local)
            try:
                res = self.handler(req)
            except Exception as e:  # a handler bug answers 500, the server lives on
                res = (500, [], f"internal error: {e}\n".encode())
            if isinstance(res, tuple):
                self._respond(req, res, keep)
            else:
                self.pending = asyncio.ensure_future(self._await(req, res, keep))

    async def _await(self, req: Request, aw: Awaitable[Response], keep: bool) -> None:
        try:
            res = await aw
        except asyncio.CancelledError:
            raise
        except Exception as e:
            res = (500, [], f"internal error: {e}\n".encode())
        self.pending = None
        if not self.closed:
            self._respond(req, res, keep)
            self._process()

    def _respond(self, req: Request, res: Response, keep: bool) -> None:
        code, headers, body = res
        if self.app.closing or any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            keep = False
        out = [b"HTTP/1.1 %d %s\r\n" % (code, _PHRASES.get(code, b"Unknown")), b"Date: " + _http_date() + b"\r\n"]
        if self.server:
            out.append(b"Server: " + self.server + b"\r\n")
        for k, v in headers:
            if k.lower() != "connection":
                out.append(f"{k}: {v}\r\n".encode("latin-1"))
        out.append(b"Content-Length: %d\r\n" % len(body))
        if not keep:
            out.append(b"Connection: close\r\n")
        elif req.version != "HTTP/1.1":
            out.append(b"Connection: keep-alive\r\n")
        out.append(b"\r\n")
        if req.method != "HEAD":
            out.append(body)
        assert self.transport is not None
        self.transport.write(b"".join(out))
        if not keep:
            self.closed = True
            self.transport.close()

    def _simple(self, code: int, body: bytes, *, close: bool) -> None:
        self.buf.clear()
        self._respond(Request("GET", "/", "HTTP/1.1", {}, b"", self.peer, self.local), (code, [], body), not close)


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at ``pos``; None until it is complete."""
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n", pos)  # (no trailers expected)
            return (bytes(body), end + 2) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


_TEXT = [("Content-Type", "text/plain; charset=utf-8")]
_HTML = [("Content-Type", "text/html")]
_JSON = [("Content-Type", "application/json")]


# -- kinds ------------------------------------------------------------------------------------


async def serve_hostname(app: App, args: list[str]) -> None:
    f = parse_go_flags(args, {"tcp": False, "udp": False, "http": True, "close": False, "port": 9376})
    if f["http"] and (f["tcp"] or f["udp"]):
        raise UsageError("Can't server TCP/UDP mode and HTTP mode at the same time")
    name = app.hostname.encode()
    port = int(f["port"])  # type: ignore[arg-type]
    if f["tcp"]:

        def greet(c: _StreamProtocol) -> None:
            assert c.transport is not None
            c.transport.write(name)
            c.transport.close()

        await app.listen_stream(port, greet, echo=False)
    if f["udp"]:
        await app.listen_udp(port, lambda data, addr: name)
    if f["http"]:
        hdrs = _TEXT + ([("Connection", "close")] if f["close"] else [])
        await app.listen_http(port, lambda req: (200, hdrs, name))
    print(f"Serving on port {port}.", flush=True)


async def netexec(app: App, args: list[str]) -> None:
    f = parse_go_flags(args, {"http-port": 8080, "udp-port": 8081, "sctp-port": -1, "http-override": "", "udp-listen-addresses": ""})
    name = app.hostname.encode()

    def udp(data: bytes, addr: tuple) -> bytes | None:
        text = data.decode("utf-8", "replace").strip().lower()
        if text == "hostname":
            return name
        if text.startswith("echo "):
            return text.split(" ", 1)[1].encode()
        if text == "clientip":
            return f"{addr[0]}:{addr[1]}".encode()
        return None

    def handle(req: Request) -> Response | Awaitable[Response]:
        if f["http-override"]:
            req = Request("GET", str(f["http-override"]), req.version, req.headers, b"", req.peer, req.local)
        p = req.path
        if p in ("/hostname", "/hostName"):
            return 200, _TEXT, name
        if p == "/echo":
            msg, code = req.query("msg"), req.query("code")
            if code:
                if not code.lstrip("-").isdigit():
                    return 200, _TEXT, f"argument 'code' must be an integer or empty, got {code!r}\n".encode()
                return int(code), _TEXT, msg.encode()
            return 200, _TEXT, msg.encode()
        if p == "/clientip":
            return 200, _TEXT, f"{req.peer[0]}:{req.peer[1]}".encode()
        if p == "/healthz":
            return (200 if app.udp_ready else 412), _TEXT, b""
        if p == "/readyz":
            return (503 if app.closing else 200), _TEXT, b"ok" if not app.closing else b"shutting down"
        if p == "/exit":
            return _exit(app, req)
        if p == "/shutdown":
            os._exit(0)
        if p == "/redirect":
            code = req.query("code") or "302"
            return int(code), [("Location", req.query("location"))] + _TEXT, b""
        if p == "/dial":
            return _dial(req)
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e9):09d} " + time.strftime("%z %Z")
        return 200, _TEXT, f"NOW: {stamp}".encode()

    if int(f["udp-port"]) != -1:  # type: ignore[arg-type]
        await app.listen_udp(int(f["udp-port"]), udp)  # type: ignore[arg-type]
        app.udp_ready = True
        print(f"Started UDP server on port {app.ip} {f['udp-port']}", flush=True)
    await app.listen_http(int(f["http-port"]), handle)  # type: ignore[arg-type]
    print(f"Started HTTP server on port {f['http-port']}", flush=True)


def _exit(app: App, req: Request) -> Response:
    try:
        wait = _go_duration(req.query("wait"))
        timeout = _go_duration(req.query("timeout"))
    except ValueError as e:
        return 200, _TEXT, f"argument must be a valid golang duration or empty, got {str(e)!r}\n".encode()
    code_s = req.query("code")
    if code_s and not code_s.isdigit():
        return 200, _TEXT, f"argument 'code' must be an integer [0-127] or empty, got {code_s!r}\n".encode()
    code = int(code_s or 0)
    loop = asyncio.get_running_loop()
    if timeout == 0:
        loop.call_later(wait + 0.01, os._exit, code)  # upstream: os.Exit without shutdown
    else:
        loop.call_later(wait, app.request_exit, code)
    return 200, _TEXT, b""


async def _dial(req: Request) -> Response:
    host, port, request = req.query("host"), req.query("port"), req.query("request")
    protocol = (req.query("protocol") or "http").lower()
    tries_s = req.query("tries") or "1"
    if not tries_s.isdigit():
        return 400, _TEXT, b"tries parameter is invalid.\n"
    if not request:
        return 400, _TEXT, b"request parameter not specified.\n"
    if protocol not in ("http", "udp") or not port.isdigit():
        return 400, _TEXT, f"unsupported protocol or bad port: {protocol} {port}\n".encode()
    responses: list[str] = []
    errors: list[str] = []
    last = ""
    for _ in range(int(tries_s)):
        try:
            last = await asyncio.wait_for(_dial_once(protocol, host, int(port), request), 5)
            responses.append(last)
        except Exception as e:  # each failed try is reported, as upstream does
            last = ""
            errors.append(f"{type(e).__name__}: {e}")
    out: dict[str, list[str]] = {}
    if last:
        out["responses"] = responses
    if errors:
        out["errors"] = errors
    return 200, _JSON, json.dumps(out).encode()


async def _dial_once(protocol: str, host: str, port: int, request: str) -> str:
    loop = asyncio.get_running_loop()
    if protocol == "udp":
        fut: asyncio.Future[bytes] = loop.create_future()

        class P(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple) -> None:
                if not fut.done():
                    fut.set_result(data)

        tr, _ = await loop.create_datagram_endpoint(P, remote_addr=(host, port))
        try:
            tr.sendto(request.encode())
            return (await fut).decode("utf-8", "replace")
        finally:
            tr.close()
    r, w = await asyncio.open_connection(host, port)
    try:
        w.write(f"GET /{request.lstrip('/')} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = await r.read()
    finally:
        w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode("utf-8", "replace")


async def static_site(app: App, args: list[str], kind: str, default_port: int) -> None:
    ports = app.declared("TCP") or [default_port]
    if kind == "nginx":
        page = (
            "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n"
            "<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully "
            "installed and working.</p>\n"
            f"<p>Served by pod <b>{app.pod}</b> ({app.ip}) on node {app.node}.</p>\n</body>\n</html>\n"
        ).encode()
        missing = b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        server = "nginx"
    else:
        page = f"<html><body><h1>It works!</h1><p>pod {app.pod} ({app.ip})</p></body></html>\n".encode()
        missing = b"<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n</body></html>\n"
        server = "Apache"

    def handle(req: Request) -> Response:
        if req.path in ("/", "/index.html"):
            return 200, _HTML, page
        return 404, _HTML, missing

    for port in ports:
        await app.listen_http(port, handle, server)
    print(f"{kind} stand-in serving on {', '.join(str(p) for p in ports)}", flush=True)


async def echo(app: App, args: list[str]) -> None:
    tcp_declared, udp_declared = app.declared("TCP"), app.declared("UDP")
    f = parse_go_flags(
        args,
        {
            "http-port": tcp_declared[0] if tcp_declared else 8080,
            "tcp-port": 0,
            "udp-port": udp_declared[0] if udp_declared else 0,
        },
    )
    ident = {"pod": app.pod, "namespace": app.namespace, "ip": app.ip, "node": app.node}

    def handle(req: Request) -> Response:
        d = dict(ident)
        d.update(
            port=req.local[1] if len(req.local) > 1 else 0,
            method=req.method,
            path=req.target,
            client=req.peer[0],
            client_port=req.peer[1] if len(req.peer) > 1 else 0,
        )
        if req.body:
            d["body"] = req.body[:65536].decode("utf-8", "replace")
        return 200, _JSON, json.dumps(d).encode() + b"\n"

    def greet(c: _StreamProtocol) -> None:
        d = dict(ident, port=c.local[1], client=c.peer[0], client_port=c.peer[1])
        assert c.transport is not None
        c.transport.write(json.dumps(d).encode() + b"\n")

    def udp(data: bytes, addr: tuple) -> bytes:
        d = dict(ident, port=int(f["udp-port"]), client=addr[0], client_port=addr[1], data=data.decode("utf-8", "replace"))  # type: ignore[arg-type]
        return json.dumps(d).encode() + b"\n"

    if int(f["http-port"]) > 0:  # type: ignore[arg-type]
        await app.listen_http(int(f["http-port"]), handle, "svcnet-echo")  # type: ignore[arg-type]
    if int(f["tcp-port"]) > 0:  # type: ignore[arg-type]
        await app.listen_stream(int(f["tcp-port"]), greet, echo=True)  # type: ignore[arg-type]
    if int(f["udp-port"]) > 0:  # type: ignore[arg-type]
        await app.listen_udp(int(f["udp-port"]), udp)  # type: ignore[arg-type]
    print(f"svcnet/echo serving http={f['http-port']} tcp={f['tcp-port']} udp={f['udp-port']}", flush=True)


async def _run(kind: str, args: list[str]) -> int:
    app = App()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.request_exit, 0)
    if kind != "pause" and not (kind == "agnhost" and args[:1] == ["pause"]):
        if not app.ip:
            print("svcnet: POD_IP is not set; stand-ins bind only their pod IP, never 0.0.0.0", file=sys.stderr)
            return 1
    if kind == "agnhost":
        if not args:
            print("Usage: agnhost [command]\n\nAvailable commands (svcnet stand-in): netexec, pause, serve-hostname")
            return 0
        sub, rest = args[0], args[1:]
        if sub == "serve-hostname":
            await serve_hostname(app, rest)
        elif sub == "netexec":
            await netexec(app, rest)
        elif sub != "pause":
            print(f"svcnet: agnhost {sub!r} has no stand-in", file=sys.stderr)
            return 2
        else:
            print("Paused", flush=True)
    elif kind in ("nginx", "httpd"):
        st = resolve(os.environ.get("SVCNET_IMAGE", kind))
        await static_site(app, args, kind, st.default_port if st and st.default_port else 80)
    elif kind == "echo":
        await echo(app, args)
    elif kind != "pause":
        print(f"svcnet: no stand-in named {kind!r}", file=sys.stderr)
        return 2
    await app.stop.wait()
    await app.shutdown()
    return app.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m svcnet.kubelet.standin <agnhost|nginx|httpd|echo|pause|IMAGE> [args...]", file=sys.stderr)
        return 2
    kind, args = argv[0], argv[1:]
    if kind not in ("agnhost", "nginx", "httpd", "echo", "pause"):
        st = resolve(kind)
        if st is None:
            print(f"svcnet: no stand-in for image {kind!r}", file=sys.stderr)
            return 2
        os.environ.setdefault("SVCNET_IMAGE", kind)
        kind = st.kind
    try:
        import uvloop  # type: ignore[import-not-found]

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a declared dependency on Linux
        runner = asyncio.Runner()
    try:
        with runner:
            return runner.run(_run(kind, args))
    except UsageError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
