"""IPVS virtual service model: destinations in kernel list order and connection accounting.

Theory of operation
-------------------
This module mirrors the parts of ``net/netfilter/ipvs/ip_vs_ctl.c`` and ``ip_vs_conn.c`` that the
schedulers can observe (reference: ``/work/shared/reference/ipvs.md`` §0 and §C, checked against
the ``Kingxukai/linux`` >= v6.16 tree).  It is pure: no I/O, no clocks.

**List order.**  ``svc->destinations`` is a list where ``list_add_rcu`` puts a new dest at the
*head*, so iteration order is newest first.  ``VirtualService.dests`` is that order.  Editing a dest
keeps its position; deleting it unlinks it (clearing ``AVAILABLE``) and parks it in a trash;
re-adding the same ``addr:port`` -- even straight from the trash, which keeps its connection
counters -- is an add, so it goes back to the head.

**Updating a dest** (``__ip_vs_update_dest``): ``last_weight`` takes the new weight on add, and on
edit only when the new weight is non-zero; ``AVAILABLE`` is set; ``OVERLOAD`` is cleared when the new
upper threshold is 0 or larger than the old one.  Then the scheduler's ``add_dest`` or
``upd_dest`` hook runs -- only the hooks the kernel scheduler actually has (``None`` otherwise).
Deleting runs ``del_dest`` after the unlink.  Validation follows ``ip_vs_add_dest`` /
``ip_vs_edit_dest``: a negative weight or ``l_threshold > u_threshold`` is ``-ERANGE``.

**Connection accounting** (``ip_vs_bind_dest`` / ``ip_vs_unbind_dest`` / ``set_tcp_state``):

* *bind*: a template raises ``persistconns``; a connection raises ``inactconns`` (every new
  connection starts ``IP_VS_CONN_F_INACTIVE`` because ``dest->conn_flags`` always carries it) or
  ``activeconns`` if bound active (sync-daemon connections).  Then, if ``u_threshold != 0`` and
  ``activeconns + inactconns >= u_threshold``, ``OVERLOAD`` is set.
* *state change*: moves one connection between the counters; the total, and so ``OVERLOAD``, is
  untouched.  TCP is active in ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK, so a TCP connection
  turns active on its first SYN (NONE -> SYN_RECV).  UDP never leaves INACTIVE.
* *unbind*: decrement, then if ``l_threshold != 0`` clear ``OVERLOAD`` when ``total <
  l_threshold``; elif ``u_threshold != 0`` clear when ``total * 4 < u_threshold * 3``; else clear.

``conn_opened(dest, proto)`` / ``conn_closed(conn)`` package this for a userspace proxy: TCP
connections count active from the start, UDP (and SCTP until ``set_active``) inactive.

**Scheduling** delegates to the bound scheduler object (one per service, like ``sched_data``).
A ``None`` pick records ``last_error`` in the kernel's ``ip_vs_scheduler_err`` format.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from .hashing import fold_addr

__all__ = [
    "FWD_DROUTE",
    "FWD_LOCALNODE",
    "FWD_MASQ",
    "FWD_NAMES",
    "FWD_TUNNEL",
    "IP_VS_DEST_F_AVAILABLE",
    "IP_VS_DEST_F_OVERLOAD",
    "IP_VS_SVC_F_HASHED",
    "IP_VS_SVC_F_MH_FALLBACK",
    "IP_VS_SVC_F_MH_PORT",
    "IP_VS_SVC_F_ONEPACKET",
    "IP_VS_SVC_F_PERSISTENT",
    "IP_VS_SVC_F_SCHED1",
    "IP_VS_SVC_F_SCHED2",
    "IP_VS_SVC_F_SCHED3",
    "IP_VS_SVC_F_SH_FALLBACK",
    "IP_VS_SVC_F_SH_PORT",
    "PORT_PROTOCOLS",
    "Conn",
    "Dest",
    "IPVSError",
    "Scheduler",
    "SyncResult",
    "VirtualService",
    "parse_sched_flags",
]

# include/uapi/linux/ip_vs.h
IP_VS_DEST_F_AVAILABLE = 0x0001
IP_VS_DEST_F_OVERLOAD = 0x0002

IP_VS_SVC_F_PERSISTENT = 0x0001
IP_VS_SVC_F_HASHED = 0x0002
IP_VS_SVC_F_ONEPACKET = 0x0004
IP_VS_SVC_F_SCHED1 = 0x0008
IP_VS_SVC_F_SCHED2 = 0x0010
IP_VS_SVC_F_SCHED3 = 0x0020
IP_VS_SVC_F_SH_FALLBACK = IP_VS_SVC_F_SCHED1
IP_VS_SVC_F_SH_PORT = IP_VS_SVC_F_SCHED2
IP_VS_SVC_F_MH_FALLBACK = IP_VS_SVC_F_SCHED1
IP_VS_SVC_F_MH_PORT = IP_VS_SVC_F_SCHED2

# IP_VS_CONN_F_FWD_MASK values
FWD_MASQ = 0
FWD_LOCALNODE = 1
FWD_TUNNEL = 2
FWD_DROUTE = 3
FWD_NAMES = {FWD_MASQ: "Masq", FWD_LOCALNODE: "Local", FWD_TUNNEL: "Tunnel", FWD_DROUTE: "Route"}

#: Protocols whose source port the sh/mh "-port" flags can hash (ip_vs_{sh,mh}_get_port).
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})

_SCHED_FLAG_BITS = {
    "sh-fallback": IP_VS_SVC_F_SCHED1,
    "sh-port": IP_VS_SVC_F_SCHED2,
    "mh-fallback": IP_VS_SVC_F_SCHED1,
    "mh-port": IP_VS_SVC_F_SCHED2,
    "flag-1": IP_VS_SVC_F_SCHED1,
    "flag-2": IP_VS_SVC_F_SCHED2,
    "flag-3": IP_VS_SVC_F_SCHED3,
}


def parse_sched_flags(text: str | Iterable[str]) -> int:
    """ipvsadm ``-b`` syntax (``"sh-fallback,sh-port"``) -> IP_VS_SVC_F_SCHED* bits."""
    names = text.split(",") if isinstance(text, str) else list(text)
    bits = 0
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in _SCHED_FLAG_BITS:
            valid = ", ".join(sorted(_SCHED_FLAG_BITS))
            raise ValueError(f"unknown scheduler flag {name!r}; valid: {valid}")
        bits |= _SCHED_FLAG_BITS[name]
    return bits


class IPVSError(ValueError):
    """A control-plane call the kernel would reject; ``errno_name`` is the kernel's errno."""

    def __init__(self, errno_name: str, message: str) -> None:
        super().__init__(f"{errno_name}: {message}")
        self.errno_name = errno_name


def _norm_addr(addr: str) -> str:
    return str(ipaddress.ip_address(addr))


class Dest:
    """One real server, like the kernel's ``struct ip_vs_dest`` (only what schedulers read).

    ``key`` and ``payload`` are opaque to IPVS; a proxy stores its endpoint there.
    ``fold`` caches the address fold used by the hashing schedulers.
    """

    __slots__ = (
        "activeconns",
        "addr",
        "flags",
        "fold",
        "fwd",
        "inactconns",
        "key",
        "l_threshold",
        "last_weight",
        "payload",
        "persistconns",
        "port",
        "u_threshold",
        "weight",
    )

    def __init__(
        self,
        addr: str,
        port: int,
        *,
        fwd: int = FWD_MASQ,
        key: Any = None,
        payload: Any = None,
    ) -> None:
        self.addr = _norm_addr(addr)
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} out of range 0..65535")
        self.port = port
        self.fold = fold_addr(self.addr)
        # ip_vs_new_dest() zero-fills; __ip_vs_update_dest() then sets weight/thresholds/flags.
        self.weight = 0
        self.last_weight = 0
        self.activeconns = 0
        self.inactconns = 0
        self.persistconns = 0
        self.u_threshold = 0
        self.l_threshold = 0
        self.flags = 0
        self.fwd = fwd
        self.key = key
        self.payload = payload

    @property
    def available(self) -> bool:
        return bool(self.flags & IP_VS_DEST_F_AVAILABLE)

    @property
    def overloaded(self) -> bool:
        return bool(self.flags & IP_VS_DEST_F_OVERLOAD)

    @property
    def totalconns(self) -> int:
        """``ip_vs_dest_totalconns``: active + inactive (templates excluded)."""
        return self.activeconns + self.inactconns

    @property
    def overhead(self) -> int:
        """``ip_vs_dest_conn_overhead``: one active connection weighs as 256 inactive ones."""
        return (self.activeconns << 8) + self.inactconns

    @property
    def endpoint(self) -> str:
        """``addr:port`` (IPv6 as ``[addr]:port``)."""
        return f"[{self.addr}]:{self.port}" if ":" in self.addr else f"{self.addr}:{self.port}"

    def __repr__(self) -> str:
        flags = "".join(
            name for bit, name in ((IP_VS_DEST_F_AVAILABLE, "A"), (IP_VS_DEST_F_OVERLOAD, "O"))
            if self.flags & bit
        )
        return (
            f"Dest({self.endpoint} w={self.weight} lw={self.last_weight} "
            f"act={self.activeconns} inact={self.inactconns} flags={flags or '-'})"
        )


class Conn:
    """A connection (or persistence template) bound to a dest; tracks its INACTIVE flag."""

    __slots__ = ("bound", "dest", "inactive", "proto", "template")

    def __init__(self, dest: Dest, proto: str, *, inactive: bool, template: bool) -> None:
        self.dest = dest
        self.proto = proto
        self.inactive = inactive
        self.template = template
        self.bound = True

    def __repr__(self) -> str:
        kind = "template" if self.template else ("inactive" if self.inactive else "active")
        return f"Conn({self.proto} -> {self.dest.endpoint} {kind}{'' if self.bound else ' closed'})"


class Scheduler:
    """Base of the scheduler classes: one instance per service holds its ``sched_data``.

    The hook attributes are ``None`` where the kernel scheduler leaves the hook NULL, so the
    service calls exactly the hooks the kernel would.  ``schedule`` returns a linked ``Dest`` or
    ``None`` (after reporting the kernel's message through ``svc.scheduler_err``).
    """

    name: ClassVar[str] = "none"
    #: hooks: (svc, dest) -> None; del_dest also receives the unlinked dest's former index.
    add_dest: Any = None
    upd_dest: Any = None
    del_dest: Any = None

    def init_service(self, svc: VirtualService) -> None:  # noqa: B027 - optional hook
        """``init_service``: build the state from ``svc.dests`` (which may be non-empty)."""

    def done_service(self, svc: VirtualService) -> None:  # noqa: B027 - optional hook
        """``done_service``: drop the state."""

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SyncResult:
    """What ``VirtualService.sync_dests`` changed."""

    __slots__ = ("added", "quiesced", "removed", "updated")

    def __init__(self) -> None:
        self.added: list[Dest] = []
        self.updated: list[Dest] = []
        self.quiesced: list[Dest] = []
        self.removed: list[Dest] = []

    def __repr__(self) -> str:
        return (
            f"SyncResult(added={len(self.added)}, updated={len(self.updated)}, "
            f"quiesced={len(self.quiesced)}, removed={len(self.removed)})"
        )


_Target = Dest | tuple[str, int] | str


class VirtualService:
    """An IPVS virtual service: flags, dests in kernel list order, and its scheduler.

    ``scheduler`` is a name from ``SCHEDULERS`` (``sched_opts`` go to its constructor) or a
    ``Scheduler`` instance.  ``flags`` is an int of ``IP_VS_SVC_F_*`` bits or ipvsadm ``-b`` text
    such as ``"mh-port"``.  The default scheduler is wlc, as for ipvsadm and the kernel netlink API.
    """

    def __init__(
        self,
        addr: str = "0.0.0.0",
        port: int = 0,
        protocol: str = "TCP",
        scheduler: str | Scheduler | None = "wlc",
        *,
        flags: int | str = 0,
        fwmark: int = 0,
        timeout: int = 0,
        netmask: str | int | None = None,
        **sched_opts: Any,
    ) -> None:
        self.addr = _norm_addr(addr)
        self.af = 6 if ":" in self.addr else 4
        self.port = port
        self.protocol = protocol.upper()
        self.fwmark = fwmark
        self.flags = parse_sched_flags(flags) if isinstance(flags, str) else flags
        self.timeout = timeout
        if netmask is None:
            netmask = 128 if self.af == 6 else "255.255.255.255"
        self.netmask = netmask
        self._dests: list[Dest] = []
        self._linked: dict[tuple[str, int], Dest] = {}
        self._trash: dict[tuple[str, int], Dest] = {}
        self.last_error: str | None = None
        self.scheduler: Scheduler | None = None
        self.set_scheduler(scheduler, **sched_opts)

    # --- read access ----------------------------------------------------------------------

    @property
    def dests(self) -> list[Dest]:
        """Linked dests in kernel iteration order (newest first). Do not mutate."""
        return self._dests

    @property
    def num_dests(self) -> int:
        return len(self._dests)

    def __len__(self) -> int:
        return len(self._dests)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._dests)

    @property
    def trash(self) -> list[Dest]:
        """Deleted dests that still have connections (they keep counting until unbound)."""
        return list(self._trash.values())

    def get_dest(self, addr: str, port: int) -> Dest | None:
        """``ip_vs_lookup_dest``: the linked dest for ``addr:port`` or ``None``."""
        return self._linked.get((_norm_addr(addr), port))

    @property
    def endpoint(self) -> str:
        return f"[{self.addr}]:{self.port}" if self.af == 6 else f"{self.addr}:{self.port}"

    def __repr__(self) -> str:
        sched = self.scheduler.name if self.scheduler else "none"
        return f"VirtualService({self.protocol} {self.endpoint} {sched} dests={len(self._dests)})"

    # --- scheduler binding ------------------------------------------------------------------

    def set_scheduler(self, scheduler: str | Scheduler | None, **sched_opts: Any) -> None:
        """``ip_vs_edit_service`` with a new scheduler: unbind the old, bind and init the new.

        Naming the scheduler already bound (without options) changes nothing, as in the kernel
        (``sched == old_sched``): its state, e.g. the rr pointer, survives.
        """
        if isinstance(scheduler, str):
            if self.scheduler is not None and self.scheduler.name == scheduler and not sched_opts:
                return
            from . import make_scheduler  # registry lives in the package __init__

            scheduler = make_scheduler(scheduler, **sched_opts)
        elif sched_opts:
            raise TypeError("scheduler options need a scheduler name, not an instance")
        if self.scheduler is not None:
            self.scheduler.done_service(self)
        self.scheduler = scheduler
        if scheduler is not None:
            scheduler.init_service(self)

    def scheduler_err(self, msg: str) -> None:
        """``ip_vs_scheduler_err``: remember the (normally rate-limited) kernel log line."""
        sched = self.scheduler.name if self.scheduler else "none"
        if self.fwmark:
            where = f"FWM {self.fwmark} 0x{self.fwmark:08X}"
        elif self.af == 6:
            where = f"{self.protocol} [{self.addr}]:{self.port}"
        else:
            where = f"{self.protocol} {self.addr}:{self.port}"
        self.last_error = f"IPVS: {sched}: {where} - {msg}"

    def schedule(
        self,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        """Pick a dest for a new connection from ``client_addr:client_port``.

        ``dst_addr`` is the packet's destination (only dh reads it; default: the service
        address).  ``proto`` is the packet's protocol (sh/mh ``-port``; default: the service's).
        Returns ``None`` when the kernel would answer ICMP port unreachable; see ``last_error``.
        """
        self.last_error = None
        if self.scheduler is None:
            self.last_error = "IPVS: no scheduler bound"
            return None
        return self.scheduler.schedule(
            self, client_addr, client_port, dst_addr=dst_addr, proto=proto
        )

    # --- dest management ---------------------------------------------------------------------

    @staticmethod
    def _check(weight: int, u_threshold: int, l_threshold: int) -> None:
        if weight < 0:
            raise IPVSError("ERANGE", "server weight less than zero")
        if u_threshold < 0 or l_threshold < 0:
            raise IPVSError("ERANGE", "thresholds are unsigned")
        if l_threshold > u_threshold:
            raise IPVSError("ERANGE", "lower threshold is higher than upper threshold")

    @staticmethod
    def _update(dest: Dest, weight: int, u_thr: int, l_thr: int, fwd: int, add: bool) -> None:
        # __ip_vs_update_dest(): keep last_weight as the latest non-0 weight (any weight on add)
        if add or weight != 0:
            dest.last_weight = weight
        dest.weight = weight
        dest.fwd = fwd
        dest.flags |= IP_VS_DEST_F_AVAILABLE
        if u_thr == 0 or u_thr > dest.u_threshold:
            dest.flags &= ~IP_VS_DEST_F_OVERLOAD
        dest.u_threshold = u_thr
        dest.l_threshold = l_thr

    def _resolve(self, target: _Target, port: int | None) -> Dest:
        if isinstance(target, Dest):
            dest = self._linked.get((target.addr, target.port))
            if dest is not target:
                raise IPVSError("ENOENT", f"{target.endpoint} is not a dest of {self!r}")
            return dest
        if isinstance(target, tuple):
            target, port = target
        if port is None:
            raise TypeError("need addr and port (or a Dest)")
        found = self.get_dest(target, port)
        if found is None:
            raise IPVSError("ENOENT", f"dest {target}:{port} doesn't exist")
        return found

    def add_dest(
        self,
        addr: str,
        port: int,
        weight: int = 1,
        *,
        u_threshold: int = 0,
        l_threshold: int = 0,
        fwd: int = FWD_MASQ,
        key: Any = None,
        payload: Any = None,
    ) -> Dest:
        """``ip_vs_add_dest``: link a dest at the head (reusing a trashed one for ``addr:port``)."""
        self._check(weight, u_threshold, l_threshold)
        k = (_norm_addr(addr), port)
        if k in self._linked:
            raise IPVSError("EEXIST", f"dest {addr}:{port} already exists")
        dest = self._trash.pop(k, None)
        if dest is None:
            dest = Dest(addr, port, fwd=fwd, key=key, payload=payload)
        else:
            if key is not None:
                dest.key = key
            if payload is not None:
                dest.payload = payload
        self._update(dest, weight, u_threshold, l_threshold, fwd, add=True)
        self._dests.insert(0, dest)  # list_add_rcu(): at the head
        self._linked[k] = dest
        hook = self.scheduler.add_dest if self.scheduler else None
        if hook is not None:
            hook(self, dest)
        return dest

    def edit_dest(
        self,
        target: _Target,
        port: int | None = None,
        *,
        weight: int | None = None,
        u_threshold: int | None = None,
        l_threshold: int | None = None,
        fwd: int | None = None,
    ) -> Dest:
        """``ip_vs_edit_dest``: change weight/thresholds in place (``None`` keeps a value)."""
        dest = self._resolve(target, port)
        w = dest.weight if weight is None else weight
        u = dest.u_threshold if u_threshold is None else u_threshold
        lo = dest.l_threshold if l_threshold is None else l_threshold
        self._check(w, u, lo)
        self._update(dest, w, u, lo, dest.fwd if fwd is None else fwd, add=False)
        hook = self.scheduler.upd_dest if self.scheduler else None
        if hook is not None:
            hook(self, dest)
        return dest

    def del_dest(self, target: _Target, port: int | None = None) -> Dest:
        """``ip_vs_del_dest``: unlink (clearing AVAILABLE), run ``del_dest``, move to the trash."""
        dest = self._resolve(target, port)
        index = self._dests.index(dest)
        dest.flags &= ~IP_VS_DEST_F_AVAILABLE
        del self._dests[index]
        del self._linked[(dest.addr, dest.port)]
        hook = self.scheduler.del_dest if self.scheduler else None
        if hook is not None:
            hook(self, dest, index)
        if dest.activeconns or dest.inactconns or dest.persistconns:
            self._trash[(dest.addr, dest.port)] = dest
        return dest

    def sync_dests(
        self,
        wanted: Mapping[tuple[str, int], int] | Iterable[tuple[str, int, int]],
        *,
        quiesce_removed: bool = False,
    ) -> SyncResult:
        """Make the linked dests equal ``wanted`` (``(addr, port) -> weight``).

        New dests are added in ``wanted``'s iteration order (so the last one ends up first in
        the list); existing ones get their weight edited only if it changed; the rest are
        deleted -- or, with ``quiesce_removed`` (kube-proxy's graceful termination), set to
        weight 0 while they still have connections and deleted once drained.
        """
        if isinstance(wanted, Mapping):
            items = [(_norm_addr(a), p, w) for (a, p), w in wanted.items()]
        else:
            items = [(_norm_addr(a), p, w) for a, p, w in wanted]
        want = {(a, p): w for a, p, w in items}
        result = SyncResult()
        for dest in list(self._dests):
            k = (dest.addr, dest.port)
            if k in want:
                continue
            if quiesce_removed and dest.totalconns > 0:
                if dest.weight != 0:
                    self.edit_dest(dest, weight=0)
                    result.quiesced.append(dest)
            else:
                self.del_dest(dest)
                result.removed.append(dest)
        for a, p, w in items:
            current = self._linked.get((a, p))
            if current is None:
                result.added.append(self.add_dest(a, p, w))
            elif current.weight != w:
                self.edit_dest(current, weight=w)
                result.updated.append(current)
        return result

    # --- connection accounting (ip_vs_conn.c) -----------------------------------------------

    def bind(self, dest: Dest, *, active: bool = False, template: bool = False,
             proto: str | None = None) -> Conn:
        """``ip_vs_bind_dest``: count a new connection (inactive by default) or template."""
        conn = Conn(dest, proto or self.protocol, inactive=not active, template=template)
        if template:
            dest.persistconns += 1
        elif active:
            dest.activeconns += 1
        else:
            dest.inactconns += 1
        if dest.u_threshold != 0 and dest.totalconns >= dest.u_threshold:
            dest.flags |= IP_VS_DEST_F_OVERLOAD
        return conn

    def set_active(self, conn: Conn, active: bool) -> None:
        """A protocol state change moving ``conn`` between ActiveConn and InActConn."""
        if not conn.bound or conn.template or conn.inactive == (not active):
            return
        dest = conn.dest
        if active:
            dest.inactconns -= 1
            dest.activeconns += 1
        else:
            dest.activeconns -= 1
            dest.inactconns += 1
        conn.inactive = not active

    def unbind(self, conn: Conn) -> None:
        """``ip_vs_unbind_dest`` (connection expiry): uncount, then the OVERLOAD clear rule."""
        if not conn.bound:
            return
        conn.bound = False
        dest = conn.dest
        if conn.template:
            dest.persistconns -= 1
        elif conn.inactive:
            dest.inactconns -= 1
        else:
            dest.activeconns -= 1
        if dest.l_threshold != 0:
            if dest.totalconns < dest.l_threshold:
                dest.flags &= ~IP_VS_DEST_F_OVERLOAD
        elif dest.u_threshold != 0:
            if dest.totalconns * 4 < dest.u_threshold * 3:
                dest.flags &= ~IP_VS_DEST_F_OVERLOAD
        else:
            dest.flags &= ~IP_VS_DEST_F_OVERLOAD
        if not dest.available and not (dest.activeconns or dest.inactconns or dest.persistconns):
            # the trash drops a dest nobody references any more
            if self._trash.get((dest.addr, dest.port)) is dest:
                del self._trash[(dest.addr, dest.port)]

    def conn_opened(self, dest: Dest, proto: str | None = None) -> Conn:
        """Account a connection the proxy just opened to ``dest``.

        TCP turns active at once (its first SYN moves NONE -> SYN_RECV, an active state);
        UDP stays inactive for life; SCTP stays inactive until ``set_active(conn, True)``.
        """
        proto = (proto or self.protocol).upper()
        conn = self.bind(dest, proto=proto)
        if proto == "TCP":
            self.set_active(conn, True)
        return conn

    def conn_closed(self, conn: Conn | Dest, proto: str | None = None) -> None:
        """Account the end of a connection: a ``Conn`` from ``conn_opened`` (preferred), or a
        ``Dest`` plus protocol, assuming the ``conn_opened`` classification (TCP active)."""
        if isinstance(conn, Conn):
            self.unbind(conn)
            return
        proto = (proto or self.protocol).upper()
        self.unbind(Conn(conn, proto, inactive=proto != "TCP", template=False))
