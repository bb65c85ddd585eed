"""Pod IP allocation from the node's podCIDR (host-local IPAM, next-fit).

Theory of operation
-------------------
Each node owns one podCIDR (local mode: node *i* gets ``127.244.<i>.0/24``; lab mode
``10.244.<i>.0/24``). :class:`PodIPAM` hands out addresses from it, one per pod, keyed by the
pod's UID. Rules:

1. **Usable range.** The network address, the *first* address (``.1``: on a real node that is
   the bridge/gateway, ``cni0``; we keep it free so lab and local mode look alike) and, for
   prefixes shorter than /31, the broadcast address (``.255`` of a /24) are never handed out.
   A /24 therefore yields ``.2``–``.254``: 253 pods.
2. **Next-fit ring, no immediate reuse.** Allocation starts just *after* the last address handed
   out and walks the ring, wrapping at the end (upstream CNI ``host-local`` keeps the same
   ``last_reserved_ip`` cursor). A released address is therefore only reused after every other
   free address has been used once, so a replacement pod gets a *new* IP, as users expect
   ("pods come and go, IPs change") and as stale conntrack/DNS caches need.
3. **Idempotent per owner.** Asking again for an owner that holds an address returns that
   address. Releasing an address that is not held is a no-op (returns False).
4. **Rebuild after restart.** :meth:`PodIPAM.restore` takes the addresses of pods that are
   still alive (from their ``status.podIP``) and the persisted cursor; addresses outside the
   range are ignored (they were not ours). Without a cursor, the highest address in use is
   taken as the last one handed out.

Pure: no I/O. The agent persists :attr:`PodIPAM.last` in its state directory.
"""

from __future__ import annotations

import ipaddress

__all__ = ["IPAMExhausted", "PodIPAM", "local_pod_cidr", "usable_range"]


class IPAMExhausted(Exception):
    """Every usable address of the podCIDR is in use."""


def local_pod_cidr(node_index: int, base: str = "127.244.0.0/16") -> str:
    """The /24 of node ``node_index`` inside ``base`` (local mode: ``127.244.<i>.0/24``)."""
    net = ipaddress.ip_network(base)
    subnets = 2 ** (24 - net.prefixlen) if net.version == 4 else 0
    if net.version != 4 or not 0 <= node_index < subnets:
        raise ValueError(f"node index {node_index} does not fit in {base}")
    first = int(net.network_address) + (node_index << 8)
    return f"{ipaddress.IPv4Address(first)}/24"


def usable_range(cidr: str) -> tuple[int, int]:
    """``(first, last)`` usable addresses of ``cidr`` as integers (inclusive), per rule 1."""
    net = ipaddress.ip_network(cidr, strict=False)
    lo = int(net.network_address)
    hi = int(net.broadcast_address)
    if net.num_addresses >= 4:
        lo += 2  # network address and the first (gateway) address
        if net.version == 4:
            hi -= 1  # broadcast
    elif net.num_addresses == 1:  # /32: nothing left once the address itself is the node's
        lo = hi + 1
    # /31 (RFC 3021): both addresses usable, no gateway to keep
    if lo > hi:
        raise ValueError(f"podCIDR {cidr} has no usable addresses")
    return lo, hi


class PodIPAM:
    """Next-fit allocator over one podCIDR; addresses are keyed by owner (the pod UID)."""

    def __init__(self, cidr: str):
        self.cidr = str(ipaddress.ip_network(cidr, strict=False))
        self._version = ipaddress.ip_network(self.cidr).version
        self._lo, self._hi = usable_range(self.cidr)
        self._by_ip: dict[int, str] = {}
        self._by_owner: dict[str, int] = {}
        self._last: int | None = None

    # -- queries -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._hi - self._lo + 1

    @property
    def free(self) -> int:
        return self.size - len(self._by_ip)

    @property
    def last(self) -> str | None:
        """The address handed out last (the ring cursor), for persisting."""
        return None if self._last is None else self._fmt(self._last)

    def owner_of(self, ip: str) -> str | None:
        return self._by_ip.get(self._int(ip))

    def ip_of(self, owner: str) -> str | None:
        n = self._by_owner.get(owner)
        return None if n is None else self._fmt(n)

    def in_use(self) -> dict[str, str]:
        """``{ip: owner}`` for every held address."""
        return {self._fmt(n): o for n, o in sorted(self._by_ip.items())}

    def contains(self, ip: str) -> bool:
        try:
            n = self._int(ip)
        except ValueError:
            return False
        return self._lo <= n <= self._hi

    # -- changes -------------------------------------------------------------------------

    def allocate(self, owner: str) -> str:
        """An address for ``owner``: the one it holds, else the next free one after the cursor."""
        held = self._by_owner.get(owner)
        if held is not None:
            return self._fmt(held)
        if not self.free:
            raise IPAMExhausted(f"no free address left in {self.cidr} ({self.size} in use)")
        start = self._lo if self._last is None else self._last + 1
        span = self.size
        for i in range(span):
            n = self._lo + (start - self._lo + i) % span
            if n not in self._by_ip:
                self._take(n, owner)
                self._last = n
                return self._fmt(n)
        raise IPAMExhausted(f"no free address left in {self.cidr}")  # pragma: no cover

    def reserve(self, ip: str, owner: str) -> bool:
        """Hold a specific address for ``owner`` (restore); False if outside the range or taken
        by someone else."""
        try:
            n = self._int(ip)
        except ValueError:
            return False
        if not self._lo <= n <= self._hi:
            return False
        cur = self._by_ip.get(n)
        if cur is not None:
            return cur == owner
        old = self._by_owner.get(owner)
        if old is not None:
            del self._by_ip[old]
        self._take(n, owner)
        return True

    def release(self, owner: str) -> bool:
        """Free the address ``owner`` holds; the cursor does not move (rule 2)."""
        n = self._by_owner.pop(owner, None)
        if n is None:
            return False
        del self._by_ip[n]
        return True

    def restore(self, in_use: dict[str, str], last: str | None = None) -> list[str]:
        """Rebuild from ``{ip: owner}`` of live pods and the persisted cursor.

        Returns the addresses that could not be restored (outside the range or duplicated)."""
        self._by_ip.clear()
        self._by_owner.clear()
        rejected = [ip for ip, owner in sorted(in_use.items()) if not self.reserve(ip, owner)]
        self._last = None
        if last is not None and self.contains(last):
            self._last = self._int(last)
        elif self._by_ip:
            self._last = max(self._by_ip)
        return rejected

    # -- helpers -------------------------------------------------------------------------

    def _take(self, n: int, owner: str) -> None:
        self._by_ip[n] = owner
        self._by_owner[owner] = n

    def _int(self, ip: str) -> int:
        a = ipaddress.ip_address(ip)
        if a.version != self._version:
            raise ValueError(f"{ip} is not IPv{self._version}")
        return int(a)

    def _fmt(self, n: int) -> str:
        return str(ipaddress.ip_address(n) if self._version == 4 else ipaddress.IPv6Address(n))
