"""The userspace data plane: the node proxy receives client traffic itself and forwards it.

``plan`` (pure: model -> listeners, balancers, health checks), ``balancer`` (pure: kernel-exact
scheduler + ClientIP affinity), ``reactor`` (one edge-triggered epoll set on the asyncio loop),
``tcp`` / ``udp`` (accept, pick, connect with retry, draining), the TCP byte relay in two
engines -- ``relay`` (the compiled ``_relay.c``, when built) and ``pumps`` (Python; ``pipes``,
the splice pipe pool) --, ``proxier`` (applies watched changes), ``metrics`` and ``httpserve`` (side endpoints).
The planning function is ``svcnet.proxy.userspace.plan.plan`` (not re-exported here: it would
shadow its module).
"""

from svcnet.proxy.userspace.balancer import Balancer, Picker, Stats, Target
from svcnet.proxy.userspace.plan import BalancerSpec, HealthCheckSpec, ListenerSpec, NodeConfig, Plan, Skipped
from svcnet.proxy.userspace.proxier import UserspaceProxier
from svcnet.proxy.userspace.tcp import TcpListener, TcpOptions
from svcnet.proxy.userspace.udp import UdpListener

__all__ = [
    "Balancer",
    "BalancerSpec",
    "HealthCheckSpec",
    "ListenerSpec",
    "NodeConfig",
    "Picker",
    "Plan",
    "Skipped",
    "Stats",
    "Target",
    "TcpListener",
    "TcpOptions",
    "UdpListener",
    "UserspaceProxier",
]
