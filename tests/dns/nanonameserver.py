"""A tiny scriptable DNS server for tests, after dnspython's ``tests/nanonameserver.py``.

It binds UDP and TCP on the same random port of 127.0.0.1 and answers in its own thread (so it
works whatever event loop the test runs). A test passes ``handler(request, tcp)`` returning a
:class:`dns.message.Message`, raw ``bytes`` or ``None`` (no reply: the client times out);
unparseable input gets FORMERR and an exception in the handler SERVFAIL. Every request is logged
in :attr:`Server.log` as ``(qname text, qtype text, "udp"|"tcp")``.

    with Server(lambda req, tcp: make_answer(req)) as up:
        up.address  # ("127.0.0.1", port)
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Callable

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

Handler = Callable[[dns.message.Message, bool], "dns.message.Message | bytes | None"]


class Server:
    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.log: list[tuple[str, str, str]] = []
        self._stop = threading.Event()
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            break
        else:
            raise RuntimeError("no free port pair")
        tcp.listen(16)
        self.udp, self.tcp = udp, tcp
        self.address = (host, port)
        self._thread = threading.Thread(target=self._run, name="nanonameserver", daemon=True)

    @property
    def upstream(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.udp.close()
        self.tcp.close()

    def _answer(self, wire: bytes, tcp: bool) -> bytes | None:
        try:
            req = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) < 12:
                return None
            return wire[:2] + struct.pack("!HHHHH", 0x8001, 0, 0, 0, 0)
        if req.question:
            q = req.question[0]
            self.log.append((q.name.to_text(), dns.rdatatype.to_text(q.rdtype), "tcp" if tcp else "udp"))
        try:
            resp = self.handler(req, tcp)
        except Exception:
            resp = dns.message.make_response(req)
            resp.set_rcode(dns.rcode.SERVFAIL)
        if resp is None:
            return None
        if isinstance(resp, dns.message.Message):
            resp = resp.to_wire()
        return resp

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ, "udp")
        sel.register(self.tcp, selectors.EVENT_READ, "listen")
        buffers: dict[socket.socket, bytearray] = {}
        while not self._stop.is_set():
            for key, _ in sel.select(0.05):
                what = key.data
                if what == "udp":
                    try:
                        wire, addr = self.udp.recvfrom(65535)
                    except OSError:
                        continue
                    out = self._answer(wire, False)
                    if out is not None:
                        self.udp.sendto(out, addr)
                elif what == "listen":
                    conn, _ = self.tcp.accept()
                    buffers[conn] = bytearray()
                    sel.register(conn, selectors.EVENT_READ, "conn")
                else:
                    conn = key.fileobj
                    try:
                        chunk = conn.recv(65535)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(conn)
                        conn.close()
                        buffers.pop(conn, None)
                        continue
                    buf = buffers[conn]
                    buf += chunk
                    while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                        size = int.from_bytes(buf[:2], "big")
                        wire = bytes(buf[2 : 2 + size])
                        del buf[: 2 + size]
                        out = self._answer(wire, True)
                        if out is not None:
                            conn.sendall(len(out).to_bytes(2, "big") + out)
        for key in list(sel.get_map().values()):
            if key.data == "conn":
                key.fileobj.close()
        sel.close()
