"""A small cloud load balancer: LoadBalancer VIPs forwarded to NodePorts of healthy nodes,
on the userspace proxy's data plane (see :mod:`svcnet.cloudlb.lb`)."""

from svcnet.cloudlb.health import HealthChecker, HealthState
from svcnet.cloudlb.lb import CloudLoadBalancer, NodePicker
from svcnet.cloudlb.plan import Frontend, Target, plan_frontends

__all__ = ["CloudLoadBalancer", "Frontend", "HealthChecker", "HealthState", "NodePicker", "Target", "plan_frontends"]
