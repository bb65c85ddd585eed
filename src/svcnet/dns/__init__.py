"""Cluster DNS: an authoritative server for the cluster zone, answering like CoreDNS.

Modules (pure ones first; ``reference/dns.md`` is the spec):

- :mod:`~svcnet.dns.config`    ``DNSConfig``, the ``kubernetes`` plugin block as a frozen value
- :mod:`~svcnet.dns.index`     ``ClusterIndex``: stripped Services/EndpointSlices/Namespaces/Pods, indexed
- :mod:`~svcnet.dns.names`     query-name grammar (CoreDNS ``parse.go``) and naming rules
- :mod:`~svcnet.dns.records`   which items a name has (CoreDNS ``kubernetes.go``)
- :mod:`~svcnet.dns.answer`    ``answer(index, config, query)``: rcodes, sections (``handler.go``)
- :mod:`~svcnet.dns.wire`      case-stable answer templates, truncation
- :mod:`~svcnet.dns.responder` wire in, wire out, with the pre-encoded answer cache
- :mod:`~svcnet.dns.forward`   upstream resolvers (I/O)
- :mod:`~svcnet.dns.server`    ``DNSServer``: asyncio UDP + TCP listeners (I/O)

Names are re-exported lazily, so importing a pure module never pulls in asyncio or sockets.
"""

from __future__ import annotations

import importlib

__all__ = ["ClusterIndex", "DNSConfig", "DNSServer", "Forwarder", "Responder"]

_WHERE = {
    "ClusterIndex": "index",
    "DNSConfig": "config",
    "DNSServer": "server",
    "Forwarder": "forward",
    "Responder": "responder",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"svcnet.dns.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'svcnet.dns' has no attribute {name!r}")
