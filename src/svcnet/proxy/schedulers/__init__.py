"""IPVS schedulers as pure Python, making the same choice as the Linux kernel.

Theory of operation
-------------------
``VirtualService`` (``base``) holds the dests in kernel list order (newest first), the service
flags and one scheduler object; ``add_dest``/``edit_dest``/``del_dest`` call the same scheduler
hooks the kernel calls, and ``conn_opened``/``conn_closed`` (or ``bind``/``set_active``/
``unbind``) keep the ActiveConn/InActConn counters and the OVERLOAD flag the way ``ip_vs_conn.c``
does.  ``svc.schedule(client_addr, client_port)`` then returns the dest the kernel would pick, or
``None`` where the kernel would refuse (ICMP port unreachable) with ``svc.last_error`` set to the
kernel's log line.

Schedulers (``SCHEDULERS``; ``make_scheduler(name, **options)``): rr, wrr, lc, wlc (the default),
sed, nq, dh, sh (flags sh-fallback, sh-port), mh (flags mh-fallback, mh-port), plus fo, ovf and
twos.  lblc/lblcr are not modelled.

Kernel version: written against the ``Kingxukai/linux`` mainline mirror (>= v6.16, 2025) and
``lib/test_siphash.c`` vectors.  The dh/sh hashes are the ``hash_32`` (GOLDEN_RATIO_32, high
bits) form; older kernels used ``(fold * 2654435761) & mask`` -- pass ``legacy_hash=True`` to
``dh``/``sh``.  mh hashes assume a 64-bit little-endian kernel (``word_bits=32`` for 32-bit).
Table sizes follow the Kconfig defaults (sh ``tab_bits=8``, mh ``tab_index=12`` -> M = 4093) and
are constructor options, as the Kconfig makes them.
Reference: ``/work/shared/reference/ipvs.md``.
"""

from __future__ import annotations

from typing import Any

from .base import (
    FWD_DROUTE,
    FWD_LOCALNODE,
    FWD_MASQ,
    FWD_TUNNEL,
    IP_VS_DEST_F_AVAILABLE,
    IP_VS_DEST_F_OVERLOAD,
    IP_VS_SVC_F_MH_FALLBACK,
    IP_VS_SVC_F_MH_PORT,
    IP_VS_SVC_F_ONEPACKET,
    IP_VS_SVC_F_PERSISTENT,
    IP_VS_SVC_F_SCHED1,
    IP_VS_SVC_F_SCHED2,
    IP_VS_SVC_F_SCHED3,
    IP_VS_SVC_F_SH_FALLBACK,
    IP_VS_SVC_F_SH_PORT,
    Conn,
    Dest,
    IPVSError,
    Scheduler,
    SyncResult,
    VirtualService,
    parse_sched_flags,
)
from .describe import describe, describe_all
from .dh import DestinationHashing
from .extras import Overflow, PowerOfTwoChoices, WeightedFailover
from .hashing import fold_addr, hash_32, hsiphash_u32, siphash
from .lc import LeastConnection, NeverQueue, ShortestExpectedDelay, WeightedLeastConnection
from .mh import MaglevHashing
from .rr import RoundRobin
from .sh import SourceHashing
from .wrr import WeightedRoundRobin

__all__ = [
    "DEFAULT_SCHEDULER",
    "FWD_DROUTE",
    "FWD_LOCALNODE",
    "FWD_MASQ",
    "FWD_TUNNEL",
    "IP_VS_DEST_F_AVAILABLE",
    "IP_VS_DEST_F_OVERLOAD",
    "IP_VS_SVC_F_MH_FALLBACK",
    "IP_VS_SVC_F_MH_PORT",
    "IP_VS_SVC_F_ONEPACKET",
    "IP_VS_SVC_F_PERSISTENT",
    "IP_VS_SVC_F_SCHED1",
    "IP_VS_SVC_F_SCHED2",
    "IP_VS_SVC_F_SCHED3",
    "IP_VS_SVC_F_SH_FALLBACK",
    "IP_VS_SVC_F_SH_PORT",
    "SCHEDULERS",
    "Conn",
    "Dest",
    "DestinationHashing",
    "IPVSError",
    "LeastConnection",
    "MaglevHashing",
    "NeverQueue",
    "Overflow",
    "PowerOfTwoChoices",
    "RoundRobin",
    "Scheduler",
    "ShortestExpectedDelay",
    "SourceHashing",
    "SyncResult",
    "VirtualService",
    "WeightedFailover",
    "WeightedLeastConnection",
    "WeightedRoundRobin",
    "describe",
    "describe_all",
    "fold_addr",
    "hash_32",
    "hsiphash_u32",
    "make_scheduler",
    "parse_sched_flags",
    "siphash",
]

#: ipvsadm's and the kernel netlink API's default; kube-proxy defaults to "rr".
DEFAULT_SCHEDULER = "wlc"

SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls
    for cls in (
        RoundRobin,
        WeightedRoundRobin,
        LeastConnection,
        WeightedLeastConnection,
        ShortestExpectedDelay,
        NeverQueue,
        DestinationHashing,
        SourceHashing,
        MaglevHashing,
        WeightedFailover,
        Overflow,
        PowerOfTwoChoices,
    )
}


def make_scheduler(name: str, **options: Any) -> Scheduler:
    """A fresh scheduler instance (one per service); ``options`` go to its constructor."""
    cls = SCHEDULERS.get(name)
    if cls is None:
        valid = ", ".join(sorted(SCHEDULERS))
        raise ValueError(f"unknown IPVS scheduler {name!r}; valid schedulers: {valid}")
    return cls(**options)
