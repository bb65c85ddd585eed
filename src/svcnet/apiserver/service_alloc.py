"""Service IP and port allocation inside the API write path (upstream storage/alloc.go).

Theory of operation
-------------------
Upstream: ``pkg/registry/core/service/storage/alloc.go`` (``Allocators``: ``allocateCreate``,
``allocateUpdate``, ``initIPFamilyFields``, ``initNodePorts``, ``updateNodePorts``,
``updateHealthCheckNodePort``, ``releaseAllocatedResources``) and the helpers of
``.../storage/storage.go`` (``normalizeClusterIPs``, ``patchAllocatedValues``,
``defaultOnReadService``). Reference: ``service-api.md`` sections 0-4.

**Create** (``beginCreate``): ``normalize_cluster_ips`` (``clusterIP`` alone fills ``clusterIPs``;
never the reverse), then ``initIPFamilyFields``: default ``ipFamilyPolicy`` (old value on update;
``RequireDualStack`` for headless selectorless; else ``SingleStack``), run
``ValidateServiceClusterIPsRelatedFields`` and return *only* those errors if any, then the
family/policy checks A1-A4 (exact upstream texts), infer ``ipFamilies`` from the given IPs, the
headless-selectorless special case (second family whenever policy is not SingleStack, even on a
single-stack cluster), the RequireDualStack and configured-family checks, and finally default
``ipFamilies`` from the cluster. Then ClusterIPs (one per family; a given IP is allocated as is,
an empty one dynamically), then NodePorts (``initNodePorts``: one nodePort per distinct ``port``
number, a user value on any of the ports sharing it wins), then the healthCheckNodePort for
``type: LoadBalancer`` + ``externalTrafficPolicy: Local`` (failures are HTTP 500).

**Update** (``beginUpdate``): ``patch_allocated_values`` copies from the old object what the
request omits (clusterIP/clusterIPs; each nodePort matched **by port name** unless the new spec
already uses that number; healthCheckNodePort), ``normalize_cluster_ips`` (update rules),
``initIPFamilyFields``, then ``updateClusterIPs`` (ExternalName -> other allocates, other ->
ExternalName releases, dual-stack upgrade allocates the secondary, downgrade releases it),
``txnUpdateNodePorts`` (leaving NodePort/LoadBalancer releases every nodePort; otherwise new
numbers are allocated, omitted ones allocated dynamically, old numbers no longer used released)
and ``updateHealthCheckNodePort``. Nothing old is released before the write succeeds: releases
are *deferred* to :meth:`ServiceTxn.commit`; :meth:`ServiceTxn.revert` gives back what the
transaction took. Dry-run transactions take nothing (see ipalloc/portalloc for the dummy values).

Deliberate deviations (each closes an upstream leak or double-allocation; see docs):

* what a Service *holds* is decided by its type: nodePorts only for NodePort/LoadBalancer
  (upstream also "releases" the never-allocated nodePort numbers an ExternalName Service may
  carry, and treats them as already held when it turns back into NodePort);
* a failed multi-family ClusterIP allocation gives back the family it already took (upstream
  returns before building its revert callback); families are processed in ``ipFamilies`` order.

Nothing here does I/O.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable

from svcnet.api.errors import APIError, FieldError, InternalError, Invalid, go_quote, invalid
from svcnet.api.service import needs_health_check, should_allocate_node_ports
from svcnet.api.validation.service import validate_cluster_ips_related_fields
from svcnet.apiserver.strategy import Txn
from svcnet.controllers.ipalloc import (
    AllocationError,
    AlreadyAllocatedError,
    ClusterIPAllocators,
    NotInRangeError,
    RangeFullError,
    ip_family,
)
from svcnet.controllers.portalloc import PortAllocationOperation, PortAllocator

__all__ = [
    "ServiceAllocator",
    "ServiceTxn",
    "held_cluster_ips",
    "held_health_check_node_port",
    "held_node_ports",
    "normalize_cluster_ips",
    "patch_allocated_values",
]

NONE = "None"  # api.ClusterIPNone
IPV4, IPV6 = "IPv4", "IPv6"
SINGLE, PREFER_DUAL, REQUIRE_DUAL = "SingleStack", "PreferDualStack", "RequireDualStack"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


# --------------------------------------------------------------------------------------------
# Small accessors over v1 JSON dicts (absent == Go zero value)


def _spec(svc: dict) -> dict:
    spec = svc.get("spec")
    if spec is None:
        spec = svc["spec"] = {}
    return spec


def _ro_spec(svc: dict | None) -> dict:
    return (svc or {}).get("spec") or {}


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _type(spec: dict) -> str:
    return spec.get("type") or "ClusterIP"  # the v1 default


def _cip(spec: dict) -> str:
    return spec.get("clusterIP") or ""


def _cips(spec: dict) -> list:
    return list(spec.get("clusterIPs") or [])


def _fams(spec: dict) -> list:
    return list(spec.get("ipFamilies") or [])


def _set_list(spec: dict, key: str, value: list | None) -> None:
    if value:
        spec[key] = list(value)
    else:
        spec.pop(key, None)


def _name(svc: dict) -> str:
    return (svc.get("metadata") or {}).get("name") or ""


def _invalid(svc: dict, errs: list[FieldError]) -> Invalid:
    return Invalid("Service", _name(svc), errs)


def _other_family(fam: str) -> str:
    return IPV6 if fam == IPV4 else IPV4


def _needs_cluster_ip(spec: dict) -> bool:
    return _type(spec) != "ExternalName"


def _is_headless_cips(spec: dict) -> bool:
    cips = _cips(spec)
    return bool(cips) and cips[0] == NONE


def _node_port_numbers(spec: dict) -> list[int]:
    """collectServiceNodePorts: every non-zero nodePort of the spec, in port order."""
    return [n for p in (spec.get("ports") or []) if (n := _int((p or {}).get("nodePort")))]


# --------------------------------------------------------------------------------------------
# What a stored Service holds (the allocators' used sets must equal the union of these)


def held_cluster_ips(svc: dict) -> list[str]:
    """ClusterIPs held by a stored Service: none for ExternalName or headless."""
    spec = _ro_spec(svc)
    if not _needs_cluster_ip(spec) or _is_headless_cips(spec):
        return []
    cips = _cips(spec) or ([_cip(spec)] if _cip(spec) else [])
    return [ip for ip in cips if ip and ip != NONE]


def held_node_ports(svc: dict) -> list[int]:
    """Distinct nodePorts held by a stored Service (only NodePort and LoadBalancer hold any)."""
    spec = _ro_spec(svc)
    if _type(spec) not in NODE_PORT_TYPES:
        return []
    return list(dict.fromkeys(_node_port_numbers(spec)))


def held_health_check_node_port(svc: dict) -> int:
    """The healthCheckNodePort a stored Service holds (LoadBalancer + ETP Local), else 0."""
    if not needs_health_check(svc):
        return 0
    return max(_int(_ro_spec(svc).get("healthCheckNodePort")), 0)


# --------------------------------------------------------------------------------------------
# storage.go helpers


def _same_cluster_ips(a: dict, b: dict) -> bool:
    """alloc.go sameClusterIPs: the plural lists only."""
    return _cips(a) == _cips(b)


def normalize_cluster_ips(new: dict, old: dict | None) -> None:
    """storage.go normalizeClusterIPs: keep ``clusterIP`` and ``clusterIPs`` in step."""
    ns = _spec(new)
    if old is None:
        if _cip(ns) and not _cips(ns):
            ns["clusterIPs"] = [_cip(ns)]
        return
    os_ = _ro_spec(old)
    # an old client patched some field and did not send clusterIPs
    if _cips(os_) and not _cips(ns) and _cip(os_) == _cip(ns):
        ns["clusterIPs"] = _cips(os_)
    if _cip(os_) != _cip(ns):
        if _cip(os_) and not _cip(ns):
            # the client is clearing clusterIP: clear the plural on its behalf if unchanged
            if _same_cluster_ips(os_, ns):
                ns.pop("clusterIPs", None)
        elif _same_cluster_ips(os_, ns):
            # clusterIP changed, clusterIPs untouched: follow the singular (validation decides)
            ns["clusterIPs"] = [_cip(ns)]


def patch_allocated_values(new: dict, old: dict) -> None:
    """storage.go patchAllocatedValues: resubmitting a manifest keeps what was allocated."""
    ns, os_ = _spec(new), _ro_spec(old)
    if _needs_cluster_ip(os_) and _needs_cluster_ip(ns):
        if not _cip(ns) and _cip(os_):
            ns["clusterIP"] = _cip(os_)
        if not _cips(ns) and _cips(os_):
            ns["clusterIPs"] = _cips(os_)
    if _type(os_) in NODE_PORT_TYPES and _type(ns) in NODE_PORT_TYPES:
        # numbers in both old and new can't be patched in (they are used by another port)
        used = set(_node_port_numbers(os_)) & set(_node_port_numbers(ns))
        by_name: dict[str, int] = {}
        for p in os_.get("ports") or []:
            by_name[(p or {}).get("name") or ""] = _int((p or {}).get("nodePort"))
        for p in ns.get("ports") or []:
            if isinstance(p, dict) and _int(p.get("nodePort")) == 0:
                old_val = by_name.get(p.get("name") or "", 0)
                if old_val and old_val not in used:
                    p["nodePort"] = old_val
    if needs_health_check(old) and needs_health_check(new):
        if not _int(ns.get("healthCheckNodePort")) and _int(os_.get("healthCheckNodePort")):
            ns["healthCheckNodePort"] = _int(os_.get("healthCheckNodePort"))


def _default_on_read(svc: dict, primary: str) -> None:
    """storage.go defaultOnReadService for objects stored before these fields existed."""
    normalize_cluster_ips(svc, None)
    spec = _spec(svc)
    if not _needs_cluster_ip(spec) or _fams(spec):
        return
    if _cip(spec) == NONE:
        if not spec.get("selector"):
            spec["ipFamilyPolicy"] = REQUIRE_DUAL
            spec["ipFamilies"] = [primary, _other_family(primary)]
        else:
            spec["ipFamilyPolicy"] = SINGLE
            spec["ipFamilies"] = [primary]
    elif _cips(spec):
        spec["ipFamilies"] = [IPV6 if ip_family(ip) == IPV6 else IPV4 for ip in _cips(spec)]
        spec["ipFamilyPolicy"] = SINGLE if len(spec["ipFamilies"]) == 1 else REQUIRE_DUAL


# --------------------------------------------------------------------------------------------
# The transaction


class ServiceTxn(Txn):
    """What one Service write took and what it will give back (upstream metaTransaction)."""

    def __init__(self, allocator: ServiceAllocator, *, dry_run: bool):
        self._alloc = allocator
        self.dry_run = dry_run
        self.node_ports = PortAllocationOperation(allocator.node_ports, dry_run=dry_run)
        #: ClusterIPs taken by this transaction (given back on revert)
        self.ips_allocated: list[str] = []
        #: ClusterIPs of the old object to release on commit
        self.ips_to_release: list[str] = []
        self._done = False

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        if not self.dry_run:
            self._alloc.release_ips(self.ips_to_release)
        self.node_ports.commit()

    def revert(self) -> None:
        if self._done:
            return
        self._done = True
        if not self.dry_run:
            self._alloc.release_ips(self.ips_allocated)
        self.node_ports.finish()


# --------------------------------------------------------------------------------------------
# The allocators


class ServiceAllocator:
    """ClusterIP + NodePort allocation for Service writes (upstream ``storage.Allocators``)."""

    def __init__(self, cluster_ips: ClusterIPAllocators, node_ports: PortAllocator):
        self.cluster_ips = cluster_ips
        self.node_ports = node_ports

    @property
    def primary_family(self) -> str:
        return self.cluster_ips.primary_family

    # -- entry points -------------------------------------------------------------------------

    def allocate_create(self, svc: dict, *, dry_run: bool) -> ServiceTxn:
        """beginCreate + allocateCreate. Raises Invalid (422) or InternalError (500)."""
        normalize_cluster_ips(svc, None)
        txn = ServiceTxn(self, dry_run=dry_run)
        try:
            self.init_ip_family_fields(svc, None)
            self._alloc_cluster_ips(svc, txn)
            if _type(_spec(svc)) in NODE_PORT_TYPES:
                self._init_node_ports(svc, txn.node_ports)
            if needs_health_check(svc):
                self._alloc_health_check_node_port(svc, txn.node_ports)
        except BaseException:
            txn.revert()
            raise
        return txn

    def allocate_update(self, svc: dict, old: dict, *, dry_run: bool) -> ServiceTxn:
        """beginUpdate + allocateUpdate. ``old`` is not modified."""
        old = copy.deepcopy(old)
        _default_on_read(old, self.primary_family)
        patch_allocated_values(svc, old)
        normalize_cluster_ips(svc, old)
        txn = ServiceTxn(self, dry_run=dry_run)
        try:
            self.init_ip_family_fields(svc, old)
            self._update_cluster_ips(svc, old, txn)
            self._update_node_ports(svc, old, txn)
        except BaseException:
            txn.revert()
            raise
        return txn

    def release_allocated_resources(self, svc: dict) -> None:
        """releaseAllocatedResources: after a (real) delete."""
        self.release_ips(held_cluster_ips(svc))
        for port in held_node_ports(svc):
            self.node_ports.release(port)
        if hc := held_health_check_node_port(svc):
            self.node_ports.release(hc)

    def release_ips(self, ips: Iterable[str]) -> None:
        for ip in ips:
            alloc = self.cluster_ips.for_ip(ip)
            # a family that is no longer configured: nothing to give back
            if alloc is not None:
                alloc.release(ip)

    # -- initIPFamilyFields -------------------------------------------------------------------

    def init_ip_family_fields(self, svc: dict, old: dict | None) -> None:
        """Default and check ipFamilyPolicy/ipFamilies (raises Invalid)."""
        spec = _spec(svc)
        if _type(spec) == "ExternalName":
            return
        if _is_matching_prefer_dual_stack(svc, old):
            return
        os_ = _ro_spec(old)
        if spec.get("ipFamilyPolicy") is None:
            if old is not None and os_.get("ipFamilyPolicy") is not None:
                spec["ipFamilyPolicy"] = os_["ipFamilyPolicy"]
            elif _cip(spec) == NONE and not spec.get("selector"):
                spec["ipFamilyPolicy"] = REQUIRE_DUAL  # headless + selectorless defaults to dual
            else:
                spec["ipFamilyPolicy"] = SINGLE
        policy = spec["ipFamilyPolicy"]

        # loose pre-validation: only these errors are returned if there are any
        errs = validate_cluster_ips_related_fields(svc)
        if errs:
            raise _invalid(svc, errs)

        el: list[FieldError] = []
        if old is not None:
            if policy == SINGLE:
                # with clusterIPs/ipFamilies unchanged, SingleStack is clear intent to downgrade
                if _same_cluster_ips(os_, spec) and len(_cips(spec)) > 1:
                    spec["clusterIPs"] = _cips(spec)[:1]
                if _fams(os_) == _fams(spec) and len(_fams(spec)) > 1:
                    spec["ipFamilies"] = _fams(spec)[:1]
            else:
                if _cips(spec) and len(_cips(spec)) < len(_cips(os_)):
                    el.append(invalid("spec.ipFamilyPolicy", policy,
                                      "must be 'SingleStack' to release the secondary cluster IP"))
                if _fams(spec) and len(_fams(spec)) < len(_fams(os_)):
                    el.append(invalid("spec.ipFamilyPolicy", policy,
                                      "must be 'SingleStack' to release the secondary IP family"))

        if policy == SINGLE:
            if len(_cips(spec)) == 2:
                el.append(invalid("spec.ipFamilyPolicy", policy,
                                  "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
            if len(_fams(spec)) == 2:
                el.append(invalid("spec.ipFamilyPolicy", policy,
                                  "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))

        # infer ipFamilies from clusterIPs
        fams = _fams(spec)
        cips = _cips(spec)
        for i, ip in enumerate(cips):
            if ip == NONE:
                break
            fam = ip_family(ip)
            if i >= len(fams):
                if fam not in self.cluster_ips:
                    el.append(invalid(f"spec.clusterIPs[{i}]", cips, f"{fam} is not configured on this cluster"))
                else:
                    fams.append(fam)
        _set_list(spec, "ipFamilies", fams)
        if el:
            raise _invalid(svc, el)

        # special case: headless + selectorless may be dual-stack even on a single-stack cluster
        if _cip(spec) == NONE and not spec.get("selector"):
            if not fams:
                fams = [self.primary_family]
            if len(fams) < 2 and policy != SINGLE:
                fams.append(_other_family(fams[0]))
            _set_list(spec, "ipFamilies", fams)
            return

        if policy == REQUIRE_DUAL and not self.cluster_ips.is_dual_stack:
            el.append(invalid("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services"))
        for i, fam in enumerate(fams):
            if fam not in self.cluster_ips:
                el.append(invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
        if el:
            raise _invalid(svc, el)

        if not fams:
            fams = [self.primary_family]
        if policy != SINGLE and len(fams) == 1 and self.cluster_ips.is_dual_stack:
            fams.append(_other_family(fams[0]))
        _set_list(spec, "ipFamilies", fams)

    # -- ClusterIPs ---------------------------------------------------------------------------

    def _alloc_cluster_ips(self, svc: dict, txn: ServiceTxn) -> None:
        """allocClusterIPs: fill every family's clusterIPs entry."""
        spec = _spec(svc)
        if _type(spec) == "ExternalName" or _is_headless_cips(spec):
            return
        cips = _cips(spec)
        to_alloc: list[tuple[str, str]] = []
        for i, fam in enumerate(_fams(spec)):
            if i > len(cips) - 1:
                cips.append("")  # just a marker
            to_alloc.append((fam, cips[i]))
        spec["clusterIPs"] = cips
        allocated = self._alloc_ips(svc, to_alloc, txn)
        fams = _fams(spec)
        for fam, ip in allocated.items():
            for i, check in enumerate(fams):
                if fam == check:
                    cips[i] = ip
                    if i == 0:
                        spec["clusterIP"] = ip
        _set_list(spec, "clusterIPs", cips)

    def _alloc_ips(self, svc: dict, to_alloc: list[tuple[str, str]], txn: ServiceTxn) -> dict[str, str]:
        allocated: dict[str, str] = {}
        for fam, ip in to_alloc:
            real = self.cluster_ips.get(fam)
            if real is None:  # pre-validated; only reachable with a corrupt old object
                raise InternalError.of(f"failed to allocate a serviceIP: {fam} is not configured on this cluster")
            alloc = real.dry_run() if txn.dry_run else real
            if not ip:
                try:
                    got = alloc.allocate_next()
                except RangeFullError as e:
                    raise InternalError.of(f"failed to allocate a serviceIP: {e}") from None
            else:
                try:
                    parsed = ipaddress.ip_address(ip)
                except ValueError:
                    raise InternalError.of(f"failed to parse service IP {go_quote(ip)}") from None
                try:
                    alloc.allocate(parsed)
                except AllocationError as e:
                    value = _cips(_spec(svc))
                    raise _invalid(svc, [invalid("spec.clusterIPs", value, f"failed to allocate IP {ip}: {e}")]) from None
                got = ip
            allocated[fam] = got
            if not txn.dry_run:
                txn.ips_allocated.append(got)
        return allocated

    def _update_cluster_ips(self, svc: dict, old: dict, txn: ServiceTxn) -> None:
        """updateClusterIPs: type changes to/from ExternalName, dual-stack up/downgrades."""
        if _is_matching_prefer_dual_stack(svc, old):
            return
        spec, os_ = _spec(svc), _ro_spec(old)
        # A: ExternalName -> a type with ClusterIPs allocates them all
        if _type(os_) == "ExternalName" and _type(spec) != "ExternalName":
            self._alloc_cluster_ips(svc, txn)
            return
        if _is_headless_cips(os_):
            return
        # B: to ExternalName releases everything (at commit)
        if _type(os_) != "ExternalName" and _type(spec) == "ExternalName":
            txn.ips_to_release.extend(held_cluster_ips(old))
            return
        ofams, nfams = _fams(os_), _fams(spec)
        if _is_headless_cips(spec):
            # headful -> headless is rejected by validation (rule 40); allocating a secondary IP
            # for it first would be pointless (upstream dereferences a missing allocator here)
            return
        if len(ofams) == 1 and len(nfams) == 2:  # C: upgrade to dual-stack
            cips = _cips(spec)
            if len(cips) < 2:
                cips.append("")
            spec["clusterIPs"] = cips
            got = self._alloc_ips(svc, [(nfams[1], cips[1])], txn)
            cips[1] = got[nfams[1]]
            spec["clusterIPs"] = cips
        elif len(ofams) == 2 and len(nfams) == 1:  # D: downgrade releases the secondary
            ocips = _cips(os_)
            if len(ocips) > 1:
                txn.ips_to_release.append(ocips[1])

    # -- NodePorts ----------------------------------------------------------------------------

    def _init_node_ports(self, svc: dict, op: PortAllocationOperation) -> None:
        """initNodePorts (create): one nodePort per distinct ``port`` number."""
        spec = _spec(svc)
        ports = [p for p in (spec.get("ports") or []) if isinstance(p, dict)]
        alloc_all = should_allocate_node_ports(svc)
        by_port: dict[int, int] = {}
        for i, sp in enumerate(spec.get("ports") or []):
            if not isinstance(sp, dict):
                continue
            node_port = _int(sp.get("nodePort"))
            if node_port == 0 and not alloc_all:
                continue  # don't allocate, but do respect specific requests
            number = _int(sp.get("port"))
            shared = by_port.get(number, 0)
            if shared == 0:
                requested = next((_int(p.get("nodePort")) for p in ports
                                  if _int(p.get("port")) == number and _int(p.get("nodePort"))), 0)
                if requested:
                    self._allocate_port(svc, op, i, requested)
                    sp["nodePort"] = requested
                    by_port[number] = requested
                else:
                    sp["nodePort"] = by_port[number] = self._allocate_next_port(op)
            elif node_port != shared:
                if node_port == 0:
                    sp["nodePort"] = shared
                else:
                    self._allocate_port(svc, op, i, node_port)

    def _allocate_port(self, svc: dict, op: PortAllocationOperation, i: int, port: int) -> None:
        try:
            op.allocate(port)
        except AllocationError as e:
            raise _invalid(svc, [invalid(f"spec.ports[{i}].nodePort", port, str(e))]) from None

    @staticmethod
    def _allocate_next_port(op: PortAllocationOperation) -> int:
        try:
            return op.allocate_next()
        except RangeFullError as e:
            raise InternalError.of(f"failed to allocate a nodePort: {e}") from None

    def _alloc_health_check_node_port(self, svc: dict, op: PortAllocationOperation) -> None:
        """allocHealthCheckNodePort: the user's value or a dynamic one; failures are 500s."""
        spec = _spec(svc)
        hc = _int(spec.get("healthCheckNodePort"))
        if hc != 0:
            try:
                op.allocate(hc)
            except AllocationError as e:
                raise InternalError.of(f"failed to allocate requested HealthCheck NodePort {hc}: {e}") from None
        else:
            try:
                spec["healthCheckNodePort"] = op.allocate_next()
            except RangeFullError as e:
                # upstream prints the (shadowed, zero) port variable here
                raise InternalError.of(f"failed to allocate a HealthCheck NodePort 0: {e}") from None

    def _update_node_ports(self, svc: dict, old: dict, txn: ServiceTxn) -> None:
        """txnUpdateNodePorts + updateNodePorts + updateHealthCheckNodePort."""
        op = txn.node_ports
        spec, os_ = _spec(svc), _ro_spec(old)
        if _type(os_) in NODE_PORT_TYPES and _type(spec) in ("ExternalName", "ClusterIP"):
            for port in held_node_ports(old):
                op.release_deferred_port(port)
        if _type(spec) in NODE_PORT_TYPES:
            old_numbers = set(held_node_ports(old))
            seen: list[tuple[str, int]] = []
            taken: set[int] = set()
            alloc_all = should_allocate_node_ports(svc)
            for i, sp in enumerate(spec.get("ports") or []):
                if not isinstance(sp, dict):
                    continue
                node_port = _int(sp.get("nodePort"))
                if node_port == 0 and not alloc_all:
                    continue
                if node_port != 0:
                    if node_port not in old_numbers and node_port not in taken:
                        self._allocate_port(svc, op, i, node_port)
                        taken.add(node_port)
                else:
                    node_port = sp["nodePort"] = self._allocate_next_port(op)
                key = (str(sp.get("protocol") or ""), node_port)
                if key in seen:
                    # upstream returns a plain error here, which the apiserver serves as a 500
                    raise APIError(status=_unknown_status(f"duplicate nodePort: {{{key[0]} {key[1]}}}"))
                seen.append(key)
            new_numbers = set(_node_port_numbers(spec))
            for port in held_node_ports(old):
                if port not in new_numbers:
                    op.release_deferred_port(port)
        needed, needs = needs_health_check(old), needs_health_check(svc)
        if not needed and needs:
            self._alloc_health_check_node_port(svc, op)
        elif needed and not needs:
            if hc := held_health_check_node_port(old):
                op.release_deferred_port(hc)

    # -- repair -------------------------------------------------------------------------------

    def repair(self, services: Iterable[dict]) -> list[str]:
        """Rebuild the allocators from stored Services; return the problems found
        (upstream ipallocator/controller/repair.go and portallocator/controller/repair.go)."""
        self.cluster_ips.clear()
        self.node_ports.clear()
        problems: list[str] = []
        for svc in services:
            md = svc.get("metadata") or {}
            who = f"{md.get('namespace') or ''}/{md.get('name') or ''}"
            work = copy.deepcopy(svc)
            normalize_cluster_ips(work, None)
            for ip in held_cluster_ips(work):
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    problems.append(f"the cluster IP {ip} for service {who} is not a valid IP; please recreate")
                    continue
                alloc = self.cluster_ips.for_ip(ip)
                if alloc is None:
                    problems.append(f"the cluster IP {ip} for service {who} is of family "
                                    f"{ip_family(addr)}, which is not configured on this cluster; please recreate")
                    continue
                try:
                    alloc.allocate(addr)
                except AlreadyAllocatedError:
                    problems.append(f"the cluster IP {ip} for service {who} was assigned to multiple services; please recreate")
                except NotInRangeError:
                    problems.append(f"the cluster IP {ip} for service {who} is not within the service CIDR {alloc.cidr}; please recreate")
            ports = held_node_ports(work)
            if (hc := held_health_check_node_port(work)) and hc not in ports:
                ports.append(hc)
            for port in ports:
                try:
                    self.node_ports.allocate(port)
                except AlreadyAllocatedError:
                    problems.append(f"the node port {port} for service {who} was assigned to multiple services; please recreate")
                except NotInRangeError:
                    problems.append(f"the node port {port} for service {who} is not within the port range "
                                    f"{self.node_ports.range_string}; please recreate")
        return problems


def _unknown_status(message: str) -> dict:
    """The Status an apiserver serves for a plain Go error (ErrorToAPIStatus default case)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Unknown",
        "code": 500,
    }


def _is_matching_prefer_dual_stack(svc: dict, old: dict | None) -> bool:
    """isMatchingPreferDualStackClusterIPFields: an unchanged PreferDualStack Service is left
    alone (no auto up/downgrade when the cluster's dual-stackness changes)."""
    if old is None:
        return False
    spec, os_ = _ro_spec(svc), _ro_spec(old)
    if spec.get("ipFamilyPolicy") is None:
        return False
    if _type(os_) != _type(spec):
        return False
    if _type(spec) not in ("ClusterIP", "NodePort", "LoadBalancer"):
        return False
    if spec.get("ipFamilyPolicy") != PREFER_DUAL:
        return False
    if os_.get("ipFamilyPolicy") is not None and os_.get("ipFamilyPolicy") != PREFER_DUAL:
        return False
    return _same_cluster_ips(os_, spec) and _fams(os_) == _fams(spec)
