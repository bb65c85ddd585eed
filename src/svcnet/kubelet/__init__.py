"""The node agent of local mode: pods as host processes, each bound to its own loopback IP.

Modules (pure ones first):

- :mod:`~svcnet.kubelet.ipam`     ``PodIPAM``: next-fit pod IPs from the node's podCIDR
- :mod:`~svcnet.kubelet.envvars`  a container's environment (service links, downward API, ``$(VAR)``)
- :mod:`~svcnet.kubelet.images`   which images run how (stand-ins, commands), bind-failure texts
- :mod:`~svcnet.kubelet.pods`     restarts, back-off, phase, container statuses, conditions
- :mod:`~svcnet.kubelet.probes`   the probe state machine (pure) and its checkers (I/O)
- :mod:`~svcnet.kubelet.node`     the Node object and its heartbeats
- :mod:`~svcnet.kubelet.runtime`  ``ProcessRuntime``: containers as process groups (I/O)
- :mod:`~svcnet.kubelet.standin`  ``python -m svcnet.kubelet.standin``: agnhost/nginx/httpd/echo/pause
- :mod:`~svcnet.kubelet.agent`    ``Kubelet``: the agent itself

Names are re-exported lazily: the stand-in process imports this package and must stay light.
"""

from __future__ import annotations

import importlib

__all__ = ["Kubelet", "PodIPAM", "ProcessRuntime", "local_pod_cidr"]

_WHERE = {
    "Kubelet": "agent",
    "PodIPAM": "ipam",
    "ProcessRuntime": "runtime",
    "local_pod_cidr": "ipam",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"svcnet.kubelet.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'svcnet.kubelet' has no attribute {name!r}")
