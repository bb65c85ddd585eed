"""Service validation: ValidateService, ValidateServiceUpdate, ValidateServiceStatusUpdate.

Theory of operation
-------------------
Works on the v1 JSON object *after* v1 defaulting and the registry's clusterIP normalisation
(``clusterIPs = [clusterIP]``), which is what upstream validates (its internal object). The
rules run in upstream order so that the aggregated message matches byte for byte; the numbers
below are those of ``service-api.md`` §2:

 1-3   ObjectMeta (DNS-1035 names), topology annotations
 4-8   ports presence, headless vs type, ExternalName restrictions
 9-15  each port (name, port, protocol, targetPort, appProtocol)
 16-19 selector, sessionAffinity(+Config)
 20-26 clusterIPs / ipFamilies / ipFamilyPolicy (:func:`validate_cluster_ips_related_fields`,
       also called by the allocator before it defaults families)
 27    externalIPs
 28-31 type, nodePorts on ClusterIP, duplicate nodePorts, duplicate (protocol, port)
 32-33 loadBalancerSourceRanges (field, capital-L path quirk) or its annotation
 34-35 allocateLoadBalancerNodePorts, loadBalancerClass
 36-39 external/internal traffic policy, healthCheckNodePort, trafficDistribution
 40-43 update-only: clusterIPs, ipFamilies, loadBalancerClass, healthCheckNodePort
 44-45 status update: load-balancer ingress

Absent fields read as their Go zero values (``""``, ``0``, nil). "Headless" here is the strict
upstream test ``clusterIPs == ["None"]``, because validation sees normalised objects.

Upstream: pkg/apis/core/validation/validation.go (ValidateService and helpers).
"""

from __future__ import annotations

from typing import Any

from svcnet.api.errors import FieldError, GoRepr, duplicate, forbidden, invalid, not_supported, required
from svcnet.api.service import is_externally_accessible, needs_health_check
from svcnet.api.validation.common import (
    child,
    go_slice_repr,
    index,
    is_dual_stack_ips,
    is_ipv6_string,
    is_valid_port_num,
    key,
    name_is_dns1035_label,
    parse_ip_sloppy,
    validate_cidr,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_ip,
    validate_labels,
    validate_non_special_ip,
    validate_port_num_or_name,
    validate_qualified_name,
)
from svcnet.api.validation.meta import validate_object_meta, validate_object_meta_update

__all__ = [
    "ANNOTATION_LB_SOURCE_RANGES",
    "ANNOTATION_TOPOLOGY_AWARE_HINTS",
    "ANNOTATION_TOPOLOGY_MODE",
    "MAX_CLIENT_IP_AFFINITY_SECONDS",
    "PORT_PROTOCOLS",
    "validate_cluster_ips_related_fields",
    "validate_load_balancer_status",
    "validate_service",
    "validate_service_status_update",
    "validate_service_update",
]

ANNOTATION_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
ANNOTATION_TOPOLOGY_AWARE_HINTS = "service.kubernetes.io/topology-aware-hints"
ANNOTATION_LB_SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400
PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")
_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_AFFINITIES = ("ClientIP", "None")
_IP_FAMILIES = ("IPv4", "IPv6")
_IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
_TRAFFIC_POLICIES = ("Cluster", "Local")
_TRAFFIC_DISTRIBUTIONS = ("PreferClose",)
_LB_IP_MODES = ("Proxy", "VIP")


def _spec(svc: Any) -> dict:
    spec = svc.get("spec") if isinstance(svc, dict) else None
    return spec if isinstance(spec, dict) else {}


def _headless(spec: dict) -> bool:
    ips = spec.get("clusterIPs") or []
    return len(ips) == 1 and ips[0] == "None"


def _families_repr(fams: Any) -> GoRepr:
    return go_slice_repr(fams if fams is not None else None, "[]core.IPFamily")


def _ips_repr(ips: Any) -> GoRepr:
    return go_slice_repr(ips if ips is not None else None, "[]string")


def _port_key_repr(protocol: str, port: Any) -> GoRepr:
    """``core.ServicePort{...}`` as ``%#v`` prints the (protocol, port) key of rule 31."""
    return GoRepr(
        f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), Port:{port}, '
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


# --------------------------------------------------------------------------------------------
# create


def validate_service(svc: dict) -> list[FieldError]:
    """``ValidateService`` (create): rules 1-39, in upstream order."""
    meta = svc.get("metadata") if isinstance(svc.get("metadata"), dict) else {}
    spec = _spec(svc)
    annotations = meta.get("annotations") or {}
    errs = validate_object_meta(meta, namespaced=True, name_fn=name_is_dns1035_label)

    # 3. topology annotations
    if ANNOTATION_TOPOLOGY_MODE in annotations and ANNOTATION_TOPOLOGY_AWARE_HINTS in annotations:
        mode = annotations[ANNOTATION_TOPOLOGY_MODE]
        if mode != annotations[ANNOTATION_TOPOLOGY_AWARE_HINTS]:
            errs.append(
                invalid(
                    key("metadata.annotations", ANNOTATION_TOPOLOGY_MODE),
                    mode,
                    f"must match annotations[{ANNOTATION_TOPOLOGY_AWARE_HINTS}] when both are specified",
                )
            )

    svc_type = spec.get("type") or ""
    ports = spec.get("ports") or []
    headless = _headless(spec)

    # 4-8
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required("spec.ports"))
    if svc_type == "LoadBalancer" and headless:
        errs.append(invalid("spec.clusterIPs[0]", "None", "may not be set to 'None' for LoadBalancer services"))
    elif svc_type == "NodePort" and headless:
        errs.append(invalid("spec.clusterIPs[0]", "None", "may not be set to 'None' for NodePort services"))
    elif svc_type == "ExternalName":
        if spec.get("clusterIPs"):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if spec.get("ipFamilies"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = spec.get("externalName") or ""
        if cname.endswith("."):  # strings.TrimSuffix: one dot only
            cname = cname[:-1]
        if cname:
            errs.extend(validate_dns1123_subdomain(cname, "spec.externalName"))
        else:
            errs.append(required("spec.externalName"))

    # 9-15
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_validate_service_port(port if isinstance(port, dict) else {}, len(ports) > 1, names, index("spec.ports", i)))

    # 16
    if spec.get("selector") is not None:
        errs.extend(validate_labels(spec.get("selector"), "spec.selector"))

    # 17-19
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in _AFFINITIES:
        errs.append(not_supported("spec.sessionAffinity", affinity, _AFFINITIES))
    if affinity == "ClientIP":
        errs.extend(_validate_client_ip_affinity(spec.get("sessionAffinityConfig")))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))

    # 20-26
    errs.extend(validate_cluster_ips_related_fields(svc))

    # 27
    for i, ip in enumerate(spec.get("externalIPs") or []):
        p = index("spec.externalIPs", i)
        ip_errs = validate_ip(p, ip)
        errs.extend(ip_errs if ip_errs else validate_non_special_ip(ip, p))

    # 28-31
    if not svc_type:
        errs.append(required("spec.type"))
    elif svc_type not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", svc_type, _SERVICE_TYPES))
    if svc_type == "ClusterIP":
        for i, port in enumerate(ports):
            if isinstance(port, dict) and port.get("nodePort"):
                errs.append(forbidden(child(index("spec.ports", i), "nodePort"), "may not be used when `type` is 'ClusterIP'"))
    seen_node_ports: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict) or not port.get("nodePort"):
            continue
        k = (port.get("protocol") or "", port["nodePort"])
        if k in seen_node_ports:
            errs.append(duplicate(child(index("spec.ports", i), "nodePort"), port["nodePort"]))
        seen_node_ports.add(k)
    seen_ports: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        k = (port.get("protocol") or "", port.get("port") or 0)
        if k in seen_ports:
            errs.append(duplicate(index("spec.ports", i), _port_key_repr(k[0], k[1])))
        seen_ports.add(k)

    # 32-33: note the capital L in the field path (upstream quirk)
    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges:
        p = "spec.LoadBalancerSourceRanges"
        if svc_type != "LoadBalancer":
            errs.append(forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
        for i, v in enumerate(ranges):
            errs.extend(validate_cidr(index(p, i), str(v).strip()))
    elif ANNOTATION_LB_SOURCE_RANGES in annotations:
        p = key("metadata.annotations", ANNOTATION_LB_SOURCE_RANGES)
        if svc_type != "LoadBalancer":
            errs.append(forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
        val = str(annotations[ANNOTATION_LB_SOURCE_RANGES]).strip()
        if val:
            for v in val.split(","):
                errs.extend(validate_cidr(p, v.strip()))

    # 34-35
    if spec.get("allocateLoadBalancerNodePorts") is not None and svc_type != "LoadBalancer":
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    if svc_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts"))  # path lacks "spec." upstream
    errs.extend(_validate_lb_class(None, svc))

    # 36-39
    errs.extend(_validate_external_traffic_policy(svc))
    errs.extend(_validate_internal_traffic_policy(spec))
    td = spec.get("trafficDistribution")
    if td is not None and td not in _TRAFFIC_DISTRIBUTIONS:
        errs.append(not_supported("spec.trafficDistribution", td, _TRAFFIC_DISTRIBUTIONS))
    return errs


def _validate_service_port(sp: dict, require_name: bool, names: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = sp.get("name") or ""
    if require_name and not name:
        errs.append(required(child(path, "name")))
    elif name:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        else:
            names.add(name)
    port = sp.get("port", 0)
    errs.extend(invalid(child(path, "port"), port, m) for m in is_valid_port_num(port))
    protocol = sp.get("protocol") or ""
    if not protocol:
        errs.append(required(child(path, "protocol")))
    elif protocol not in PORT_PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), protocol, PORT_PROTOCOLS))
    errs.extend(validate_port_num_or_name(sp.get("targetPort", 0), child(path, "targetPort")))
    if sp.get("appProtocol") is not None:
        errs.extend(validate_qualified_name(sp["appProtocol"], child(path, "appProtocol")))
    # 15: headless Services may use a different or named targetPort (historical tolerance)
    return errs


def _validate_client_ip_affinity(config: Any) -> list[FieldError]:
    p = "spec.sessionAffinityConfig"
    detail = "when session affinity type is ClientIP"
    if config is None:
        return [required(p, detail)]
    client_ip = config.get("clientIP")
    if client_ip is None:
        return [required(child(p, "clientIP"), detail)]
    timeout = client_ip.get("timeoutSeconds")
    if timeout is None:
        return [required(f"{p}.clientIP.timeoutSeconds", detail)]
    if not isinstance(timeout, int) or timeout <= 0 or timeout > MAX_CLIENT_IP_AFFINITY_SECONDS:
        return [
            invalid(
                f"{p}.clientIP.timeoutSeconds",
                timeout,
                f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}",
            )
        ]
    return []


def validate_cluster_ips_related_fields(svc: dict) -> list[FieldError]:
    """``ValidateServiceClusterIPsRelatedFields`` (rules 20-26); nothing for ExternalName.

    The allocator runs this before defaulting ipFamilies/ipFamilyPolicy and returns only these
    errors if there are any (service-api.md §0.1 step 3b).
    """
    spec = _spec(svc)
    if spec.get("type") == "ExternalName":
        return []
    errs: list[FieldError] = []
    cluster_ip = spec.get("clusterIP") or ""
    ips = spec.get("clusterIPs")
    ip_list = list(ips or [])
    fams = spec.get("ipFamilies")
    fam_list = list(fams or [])
    has_invalid = False

    # 20
    if cluster_ip:
        if not ip_list:
            errs.append(required("spec.clusterIPs"))
        elif ip_list[0] != cluster_ip:
            errs.append(invalid("spec.clusterIPs", _ips_repr(ips), "first value must match `clusterIP`"))
    elif ip_list:
        errs.append(invalid("spec.clusterIPs", _ips_repr(ips), "must be empty when `clusterIP` is not specified"))

    # 21
    seen: set[str] = set()
    for i, fam in enumerate(fam_list):
        if fam not in _IP_FAMILIES:
            errs.append(not_supported(index("spec.ipFamilies", i), fam, _IP_FAMILIES))
        if fam in seen:
            errs.append(duplicate(index("spec.ipFamilies", i), fam))
        seen.add(fam)

    # 22
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in _IP_FAMILY_POLICIES:
        errs.append(not_supported("spec.ipFamilyPolicy", policy, _IP_FAMILY_POLICIES))

    # 23
    for i, ip in enumerate(ip_list):
        if i == 0 and ip == "None":
            if len(ip_list) > 1:
                has_invalid = True
                errs.append(invalid("spec.clusterIPs", _ips_repr(ips), "'None' must be the first and only value"))
            continue
        ip_errs = validate_ip(index("spec.clusterIPs", i), ip)
        if ip_errs:
            has_invalid = True
        errs.extend(ip_errs)

    # 24
    if len(ip_list) > 2:
        errs.append(invalid("spec.clusterIPs", _ips_repr(ips), "may only hold up to 2 values"))
    if has_invalid:
        return errs

    # 25
    if len(ip_list) > 1 and not is_dual_stack_ips(ip_list):
        errs.append(
            invalid("spec.clusterIPs", _ips_repr(ips), "may specify no more than one IP for each IP family")
        )

    # 26
    if not _headless(spec) and ip_list and fam_list:
        for i, ip in enumerate(ip_list):
            if i > len(fam_list) - 1:
                break
            if fam_list[i] == "IPv4" and is_ipv6_string(ip):
                errs.append(
                    invalid(index("spec.clusterIPs", i), ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`")
                )
            if fam_list[i] == "IPv6" and not is_ipv6_string(ip):
                errs.append(
                    invalid(index("spec.clusterIPs", i), ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`")
                )
    return errs


def _validate_lb_class(old: dict | None, svc: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = _spec(svc)
    cls = spec.get("loadBalancerClass")
    is_lb = spec.get("type") == "LoadBalancer"
    if old is not None:
        old_spec = _spec(old)
        if old_spec.get("type") == "LoadBalancer" and is_lb and old_spec.get("loadBalancerClass") != cls:
            errs.append(invalid("spec.loadBalancerClass", cls, "may not change once set"))
    if is_lb:
        if cls is not None:
            errs.extend(validate_qualified_name(cls, "spec.loadBalancerClass"))
    elif cls is not None:
        errs.append(forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
    return errs


def _validate_external_traffic_policy(svc: dict) -> list[FieldError]:
    spec = _spec(svc)
    errs: list[FieldError] = []
    etp = spec.get("externalTrafficPolicy") or ""
    if not is_externally_accessible(svc):
        if etp:
            errs.append(
                invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services")
            )
    elif not etp:
        errs.append(required("spec.externalTrafficPolicy"))
    elif etp not in _TRAFFIC_POLICIES:
        errs.append(not_supported("spec.externalTrafficPolicy", etp, _TRAFFIC_POLICIES))

    hc = spec.get("healthCheckNodePort") or 0
    if not needs_health_check(svc):
        if hc:
            errs.append(
                invalid(
                    "spec.healthCheckNodePort",
                    hc,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                )
            )
    elif not hc:
        errs.append(required("spec.healthCheckNodePort"))
    else:
        errs.extend(invalid("spec.healthCheckNodePort", hc, m) for m in is_valid_port_num(hc))
    return errs


def _validate_internal_traffic_policy(spec: dict) -> list[FieldError]:
    itp = spec.get("internalTrafficPolicy")
    if itp is None:
        # not required for ExternalName: historical tolerance (rule 38)
        if (spec.get("type") or "") in ("NodePort", "LoadBalancer", "ClusterIP"):
            return [required("spec.internalTrafficPolicy")]
        return []
    if itp not in _TRAFFIC_POLICIES:
        return [not_supported("spec.internalTrafficPolicy", itp, _TRAFFIC_POLICIES)]
    return []


# --------------------------------------------------------------------------------------------
# update


def validate_service_update(new: dict, old: dict) -> list[FieldError]:
    """``ValidateServiceUpdate``: metadata, rules 40-43, then :func:`validate_service`."""
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_upgrade_downgrade_cluster_ips(old, new))
    errs.extend(_validate_upgrade_downgrade_ip_families(old, new))
    errs.extend(_validate_lb_class(old, new))
    if needs_health_check(old) and needs_health_check(new):
        if (_spec(new).get("healthCheckNodePort") or 0) != (_spec(old).get("healthCheckNodePort") or 0):
            errs.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    errs.extend(validate_service(new))
    return errs


def _validate_upgrade_downgrade_cluster_ips(old: dict, new: dict) -> list[FieldError]:
    o, n = _spec(old), _spec(new)
    if n.get("type") == "ExternalName" or o.get("type") == "ExternalName":
        return []
    if _headless(o) and _headless(n):
        return []
    old_ips, new_ips = list(o.get("clusterIPs") or []), list(n.get("clusterIPs") or [])
    new_repr = _ips_repr(n.get("clusterIPs"))
    errs: list[FieldError] = []
    if len(old_ips) == len(new_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                errs.append(invalid(index("spec.clusterIPs", i), new_repr, "may not change once set"))
    elif len(old_ips) > len(new_ips):
        if not new_ips:
            errs.append(invalid("spec.clusterIPs[0]", new_repr, "primary clusterIP can not be unset"))
        if old_ips and new_ips and new_ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", new_repr, "may not change once set"))
        if len(new_ips) == 1 and n.get("ipFamilyPolicy") != "SingleStack":
            errs.append(
                invalid(
                    "spec.ipFamilyPolicy",
                    n.get("ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                )
            )
    else:
        if old_ips and new_ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", new_repr, "may not change once set"))
    return errs


def _validate_upgrade_downgrade_ip_families(old: dict, new: dict) -> list[FieldError]:
    o, n = _spec(old), _spec(new)
    if n.get("type") == "ExternalName" or o.get("type") == "ExternalName":
        return []
    if _headless(o) != _headless(n) or _headless(n):
        return []
    old_f, new_f = list(o.get("ipFamilies") or []), list(n.get("ipFamilies") or [])
    errs: list[FieldError] = []
    # upstream quirks: the index is always [0]; downgrade errors print clusterIPs as the value
    if len(old_f) == len(new_f):
        for i, fam in enumerate(old_f):
            if fam != new_f[i]:
                errs.append(invalid("spec.ipFamilies[0]", _families_repr(n.get("ipFamilies")), "may not change once set"))
    elif len(old_f) > len(new_f):
        if not n.get("clusterIPs"):
            errs.append(invalid("spec.ipFamilies[0]", _families_repr(n.get("ipFamilies")), "primary ipFamily can not be unset"))
        if new_f and new_f[0] != old_f[0]:
            errs.append(invalid("spec.ipFamilies[0]", _ips_repr(n.get("clusterIPs")), "may not change once set"))
        if len(new_f) == 1 and n.get("ipFamilyPolicy") != "SingleStack":
            errs.append(
                invalid(
                    "spec.ipFamilyPolicy",
                    n.get("ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                )
            )
    else:
        if old_f and new_f and new_f[0] != old_f[0]:
            errs.append(invalid("spec.ipFamilies[0]", _ips_repr(n.get("clusterIPs")), "may not change once set"))
    return errs


# --------------------------------------------------------------------------------------------
# status


def validate_load_balancer_status(status: Any, path: str, spec: dict) -> list[FieldError]:
    """``ValidateLoadBalancerStatus`` with LoadBalancerIPMode on and AllowServiceLBStatusOnNonLB off."""
    status = status if isinstance(status, dict) else {}
    ingress = status.get("ingress") or []
    ingr_path = child(path, "ingress")
    if (spec.get("type") or "") != "LoadBalancer" and ingress:
        return [forbidden(ingr_path, "may only be used when `spec.type` is 'LoadBalancer'")]
    errs: list[FieldError] = []
    for i, ing in enumerate(ingress):
        ing = ing if isinstance(ing, dict) else {}
        p = index(ingr_path, i)
        ip = ing.get("ip") or ""
        if ip:
            errs.extend(validate_ip(child(p, "ip"), ip))
        mode = ing.get("ipMode")
        if mode is None:
            if ip:
                errs.append(required(child(p, "ipMode"), "must be specified when `ip` is set"))
        elif not ip:
            errs.append(forbidden(child(p, "ipMode"), "may not be specified when `ip` is not set"))
        elif mode not in _LB_IP_MODES:
            errs.append(not_supported(child(p, "ipMode"), mode, _LB_IP_MODES))
        hostname = ing.get("hostname") or ""
        if hostname:
            errs.extend(validate_dns1123_subdomain(hostname, child(p, "hostname")))
            if parse_ip_sloppy(hostname) is not None:
                errs.append(invalid(child(p, "hostname"), hostname, "must be a DNS name, not an IP address"))
    return errs


def validate_service_status_update(new: dict, old: dict) -> list[FieldError]:
    """``ValidateServiceStatusUpdate`` (rules 44-45)."""
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    status = new.get("status") if isinstance(new.get("status"), dict) else {}
    errs.extend(validate_load_balancer_status(status.get("loadBalancer"), "status.loadBalancer", _spec(new)))
    return errs
