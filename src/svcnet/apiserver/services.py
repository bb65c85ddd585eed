"""The Service REST strategy: status handling, type-dependent field clearing, allocation hooks.

Theory of operation
-------------------
Upstream: ``pkg/registry/core/service/strategy.go`` (``PrepareForCreate``, ``PrepareForUpdate``,
``dropTypeDependentFields``, ``Validate``/``ValidateUpdate``) and the ``BeginCreate``/
``BeginUpdate``/``AfterDelete`` hooks of ``pkg/registry/core/service/storage/storage.go``, whose
allocation half lives in :mod:`svcnet.apiserver.service_alloc`. Reference: ``service-api.md``
sections 0.1, 0.2, 1.2, 1.3, 3, 4.

The registry drives one write as (``svcnet.apiserver.strategy``):

CREATE  defaults -> :meth:`prepare_for_create` (``status = {loadBalancer: {}}``; user status is
        discarded) -> :meth:`begin_create` (allocation, *before* validation, so allocation errors
        win) -> :meth:`validate` (``validate_service``; errors revert the allocation) -> store ->
        ``txn.commit()``.
UPDATE  defaults -> :meth:`prepare_for_update` (``status = old.status``, then
        ``dropTypeDependentFields``) -> :meth:`begin_update` (``patchAllocatedValues``,
        ``normalizeClusterIPs``, allocation; old values are released only at commit) ->
        :meth:`validate_update` -> store -> commit (or revert on any failure).
DELETE  store delete -> :meth:`after_delete` releases clusterIPs, nodePorts, healthCheckNodePort.
START   :meth:`repair` rebuilds the allocators from every stored Service and returns the
        conflicts it found (duplicates, out-of-range values) instead of failing.

``dropTypeDependentFields`` wipes a field only when (a) it no longer applies to the new type,
(b) the server might have filled it in, and (c) the user left it unchanged from the old object;
if the user changed it, validation reports the problem instead. Upstream runs it after
``BeginUpdate`` (generic ``Store.Update``: BeginUpdate, then BeforeUpdate = PrepareForUpdate +
ValidateUpdate). Our registry calls :meth:`prepare_for_update` first, so it runs there *and* again
at the end of :meth:`begin_update`: the early pass only wipes fields the allocation never reads
(``patchAllocatedValues`` fills only fields the new type uses; the wiping only touches fields it
doesn't), and the late pass sees the object exactly as upstream's does (after
``normalizeClusterIPs``), so the result is upstream's.

ClusterIP errors are 422 ``Invalid`` with the upstream texts; a full range is a 500
(``Internal error occurred: failed to allocate a serviceIP: range is full``). The
``default/kubernetes`` Service takes :func:`kubernetes_service_ip` (index 1 of the primary CIDR,
``10.96.0.1`` for ``10.96.0.0/12``; upstream ``GetIndexedIP(range, 1)``).

No I/O: the registry owns the store.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from dataclasses import dataclass

from svcnet.api.errors import FieldError
from svcnet.api.resources import ResourceType, by_name
from svcnet.api.service import needs_health_check
from svcnet.api.validation.service import validate_service, validate_service_update
from svcnet.apiserver.service_alloc import ServiceAllocator, ServiceTxn
from svcnet.apiserver.strategy import Strategy
from svcnet.controllers.ipalloc import ClusterIPAllocators
from svcnet.controllers.portalloc import DEFAULT_NODE_PORT_RANGE, PortAllocator, parse_port_range

__all__ = [
    "DEFAULT_SERVICE_CIDRS",
    "LOCAL_SERVICE_CIDRS",
    "ServiceConfig",
    "ServiceStrategy",
    "drop_type_dependent_fields",
    "kubernetes_service_ip",
]

#: kubeadm's default --service-cluster-ip-range (lab / cluster mode)
DEFAULT_SERVICE_CIDRS: tuple[str, ...] = ("10.96.0.0/12",)
#: local (loopback) mode, docs/design.md
LOCAL_SERVICE_CIDRS: tuple[str, ...] = ("127.96.0.0/16",)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """``--service-cluster-ip-range`` (1-2 CIDRs, primary first) and ``--service-node-port-range``."""

    service_cidrs: tuple[str, ...] = DEFAULT_SERVICE_CIDRS
    node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE

    def __post_init__(self) -> None:
        cidrs = self.service_cidrs
        if isinstance(cidrs, str):
            cidrs = tuple(c.strip() for c in cidrs.split(",") if c.strip())
        object.__setattr__(self, "service_cidrs", tuple(cidrs))
        object.__setattr__(self, "node_port_range", parse_port_range(self.node_port_range))


def kubernetes_service_ip(cidr: str) -> str:
    """The ``default/kubernetes`` ClusterIP: the first usable address (index 1) of ``cidr``."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address + 1)


# --------------------------------------------------------------------------------------------
# dropTypeDependentFields (strategy.go)


def _spec(svc: dict) -> dict:
    spec = svc.get("spec")
    if spec is None:
        spec = svc["spec"] = {}
    return spec


def _type(spec: dict) -> str:
    return spec.get("type") or "ClusterIP"  # the v1 default


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _node_port_set(spec: dict) -> set[int]:
    return {n for p in (spec.get("ports") or []) if isinstance(p, dict) and (n := _int(p.get("nodePort")))}


def _needs_node_port(spec: dict) -> bool:
    return _type(spec) in ("NodePort", "LoadBalancer")


def drop_type_dependent_fields(new: dict, old: dict) -> None:
    """Clear fields the new type doesn't use, when the user left them as they were."""
    ns = _spec(new)
    os_ = old.get("spec") or {}

    # leaving the types that have clusterIPs (even "None" counts as a value)
    if _type(os_) != "ExternalName" and _type(ns) == "ExternalName":
        same_ips = (os_.get("clusterIP") or "") == (ns.get("clusterIP") or "") and list(
            os_.get("clusterIPs") or []
        ) == list(ns.get("clusterIPs") or [])
        if same_ips:  # deallocated later (at commit)
            ns.pop("clusterIP", None)
            ns.pop("clusterIPs", None)
        if list(os_.get("ipFamilies") or []) == list(ns.get("ipFamilies") or []):
            ns.pop("ipFamilies", None)
        if (os_.get("ipFamilyPolicy") or "") == (ns.get("ipFamilyPolicy") or ""):
            ns.pop("ipFamilyPolicy", None)

    # leaving NodePort/LoadBalancer without adding net-new nodePort numbers
    if _needs_node_port(os_) and not _needs_node_port(ns) and _node_port_set(os_) >= _node_port_set(ns):
        for p in ns.get("ports") or []:
            if isinstance(p, dict):
                p.pop("nodePort", None)

    if needs_health_check(old) and not needs_health_check(new):
        if _int(os_.get("healthCheckNodePort")) == _int(ns.get("healthCheckNodePort")):
            ns.pop("healthCheckNodePort", None)

    if _type(os_) == "LoadBalancer" and _type(ns) != "LoadBalancer":
        a_old, a_new = os_.get("allocateLoadBalancerNodePorts"), ns.get("allocateLoadBalancerNodePorts")
        if a_old is not None and a_new is not None and a_old == a_new:
            ns.pop("allocateLoadBalancerNodePorts", None)
        if os_.get("loadBalancerClass") == ns.get("loadBalancerClass"):
            ns.pop("loadBalancerClass", None)

    # externalTrafficPolicy: strategy.go needsExternalTrafficPolicy is NodePort/LoadBalancer only
    if _needs_node_port(os_) and not _needs_node_port(ns):
        if (os_.get("externalTrafficPolicy") or "") == (ns.get("externalTrafficPolicy") or ""):
            ns.pop("externalTrafficPolicy", None)

    # LB de-provisioning is asynchronous, but users need not see that
    if _type(ns) != "LoadBalancer":
        status = new.get("status")
        if not isinstance(status, dict):
            status = new["status"] = {}
        status["loadBalancer"] = {}


# --------------------------------------------------------------------------------------------
# The strategy


class ServiceStrategy(Strategy):
    """Strategy hooks for ``services`` (upstream svcStrategy + the storage hooks)."""

    has_status_subresource = True
    allow_create_on_update = True  # upstream svcStrategy.AllowCreateOnUpdate
    validates_metadata = True  # validate_service runs ValidateObjectMeta itself

    def __init__(
        self,
        resource: ResourceType | None = None,
        config: ServiceConfig | None = None,
        *,
        rng: random.Random | None = None,
    ):
        super().__init__(resource if resource is not None else by_name("services"))
        self.config = config if config is not None else ServiceConfig()
        self.cluster_ips = ClusterIPAllocators(self.config.service_cidrs, rng=rng)
        self.node_ports = PortAllocator(self.config.node_port_range, rng=rng)
        self.allocator = ServiceAllocator(self.cluster_ips, self.node_ports)

    # -- create ------------------------------------------------------------------------------

    def prepare_for_create(self, obj: dict) -> None:
        obj["status"] = {"loadBalancer": {}}

    def begin_create(self, obj: dict, *, dry_run: bool) -> ServiceTxn:
        return self.allocator.allocate_create(obj, dry_run=dry_run)

    def validate(self, obj: dict) -> list[FieldError]:
        return validate_service(obj)

    # -- update ------------------------------------------------------------------------------

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        status = copy.deepcopy(old.get("status"))
        if not isinstance(status, dict):
            status = {}
        status.setdefault("loadBalancer", {})
        obj["status"] = status
        drop_type_dependent_fields(obj, old)

    def begin_update(self, obj: dict, old: dict, *, dry_run: bool) -> ServiceTxn:
        txn = self.allocator.allocate_update(obj, old, dry_run=dry_run)
        # Upstream runs PrepareForUpdate (and so dropTypeDependentFields) *after* BeginUpdate.
        # Repeating it here catches what normalizeClusterIPs has just made equal to the old
        # object (an old client re-sending only `clusterIP` while switching to ExternalName).
        drop_type_dependent_fields(obj, old)
        return txn

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return validate_service_update(obj, old)

    # -- status ------------------------------------------------------------------------------

    def validate_status_update(self, obj: dict, old: dict) -> list[FieldError]:
        from svcnet.api.validation import service as _v

        fn = getattr(_v, "validate_service_status_update", None)
        return fn(obj, old) if fn is not None else []

    # -- delete / start-up -------------------------------------------------------------------

    def after_delete(self, obj: dict) -> None:
        self.allocator.release_allocated_resources(obj)

    def repair(self, objects: list[dict]) -> list[str]:  # type: ignore[override]
        """Mark every stored Service's IPs and ports allocated; return the conflicts found."""
        return self.allocator.repair(objects)
