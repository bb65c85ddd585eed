"""Render virtual services the way ``ipvsadm -Ln`` prints them (pure text, no I/O).

Theory of operation
-------------------
Formats follow ipvsadm 1.31 ``print_title`` / ``print_service_entry`` (numeric mode):

* title: ``Prot LocalAddress:Port Scheduler Flags`` and
  ``  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn``;
* service: ``"%-4s %s"`` of protocol and ``addr:port`` (IPv6 ``[addr]:port``; fwmark services
  ``FWM  <mark>``), the scheduler name, `` (sh-fallback,sh-port)``-style scheduler flags,
  `` persistent <timeout>`` (+ `` mask <netmask>`` when not a host mask) and `` ops``;
* dest: ``"  -> %-28s %-7s %-6d %-10u %-10u"`` (address, Forward, Weight, ActiveConn,
  InActConn) -- trailing blanks included, as ipvsadm prints them.

Dest order: ipvsadm **sorts** dests by address then port unless ``--nosort`` is given.  Here
``sort=False`` (the default) shows the kernel's list order -- newest first, the order every
scheduler walks -- and ``sort=True`` mimics plain ``ipvsadm -Ln`` (a true numeric sort; libipvs's
comparator subtracts addresses as ``int`` and can misorder addresses 2**31 apart).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .base import (
    FWD_NAMES,
    IP_VS_SVC_F_ONEPACKET,
    IP_VS_SVC_F_PERSISTENT,
    IP_VS_SVC_F_SCHED1,
    IP_VS_SVC_F_SCHED2,
    IP_VS_SVC_F_SCHED3,
    Dest,
    VirtualService,
)

__all__ = ["IPVS_VERSION_LINE", "describe", "describe_all", "sched_flag_names"]

IPVS_VERSION_LINE = "IP Virtual Server version 1.2.1 (size=4096)"
_TITLE = (
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
)


def sched_flag_names(sched_name: str, flags: int) -> list[str]:
    """ipvsadm ``print_sched_flags``: names of the SCHED1..3 bits for this scheduler."""
    if sched_name == "sh":
        table = [(IP_VS_SVC_F_SCHED1, "sh-fallback"), (IP_VS_SVC_F_SCHED2, "sh-port")]
    elif sched_name == "mh":
        table = [(IP_VS_SVC_F_SCHED1, "mh-fallback"), (IP_VS_SVC_F_SCHED2, "mh-port")]
    else:
        table = [
            (IP_VS_SVC_F_SCHED1, "flag-1"),
            (IP_VS_SVC_F_SCHED2, "flag-2"),
            (IP_VS_SVC_F_SCHED3, "flag-3"),
        ]
    return [name for bit, name in table if flags & bit]


def _service_line(svc: VirtualService) -> str:
    sched = svc.scheduler.name if svc.scheduler is not None else "none"
    if svc.fwmark:
        name = f"FWM  {svc.fwmark}" + (" IPv6" if svc.af == 6 else "")
    else:
        name = f"{svc.protocol:<4s} {svc.endpoint}"
        if svc.af == 4:
            name = name[:33]
    line = f"{name} {sched}"
    if svc.flags & (IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2 | IP_VS_SVC_F_SCHED3):
        line += " (" + ",".join(sched_flag_names(sched, svc.flags)) + ")"
    if svc.flags & IP_VS_SVC_F_PERSISTENT:
        line += f" persistent {svc.timeout}"
        if svc.af == 4 and str(svc.netmask) != "255.255.255.255":
            line += f" mask {svc.netmask}"
        if svc.af == 6 and int(svc.netmask) != 128:
            line += f" mask {int(svc.netmask)}"
    if svc.flags & IP_VS_SVC_F_ONEPACKET:
        line += " ops"
    return line


def _dest_line(d: Dest) -> str:
    name = d.endpoint if ":" in d.addr else d.endpoint[:28]
    fwd = FWD_NAMES.get(d.fwd, "")
    return f"  -> {name:<28s} {fwd:<7s} {d.weight:<6d} {d.activeconns:<10d} {d.inactconns:<10d}"


def _sort_key(d: Dest) -> tuple[int, int]:
    return int(ipaddress.ip_address(d.addr)), d.port


def _entry(svc: VirtualService, sort: bool) -> str:
    dests = sorted(svc.dests, key=_sort_key) if sort else svc.dests
    return "".join([_service_line(svc) + "\n", *(_dest_line(d) + "\n" for d in dests)])


def describe(svc: VirtualService, *, sort: bool = False) -> str:
    """One service as ``ipvsadm -Ln [--nosort] -t|-u VIP:port`` shows it (title + entry)."""
    return _TITLE + _entry(svc, sort)


def describe_all(services: Iterable[VirtualService], *, sort: bool = False) -> str:
    """Several services as ``ipvsadm -Ln`` shows them (version line, title, entries)."""
    return IPVS_VERSION_LINE + "\n" + _TITLE + "".join(_entry(s, sort) for s in services)
