"""EndpointSlice (discovery.k8s.io/v1) and legacy Endpoints (v1) validation.

Theory of operation
-------------------
EndpointSlice, as ``pkg/apis/discovery/validation`` does it:

* metadata: DNS-1123 subdomain names, namespaced;
* ``addressType``: required, one of ``FQDN``/``IPv4``/``IPv6`` (``Unsupported value``);
  immutable on update (``addressType: Invalid value: "IPv6": field is immutable``);
* ``endpoints``: at most 1000 (``endpoints: Too many: 1001: must have at most 1000 items``, and
  nothing else is checked then); each needs 1-100 ``addresses`` valid for the addressType
  (IPv4/IPv6: the family check *and* the non-special-IP check, so a garbage address gets two
  errors, as upstream), ``nodeName`` a DNS-1123 subdomain, ``hostname`` a DNS-1123 label,
  ``deprecatedTopology`` <= 16 labels, ``hints.forZones`` <= 8 unique label values;
* ``ports``: at most 20000 (current upstream; older releases said 100), unique names (``""``
  counts, so two unnamed ports are a duplicate), DNS-1123 label names, protocol required and
  TCP/UDP/SCTP, ``appProtocol`` a qualified name. Port *numbers* are not range-checked upstream.

Loopback addresses: upstream forbids them; svcnet's local mode places pods on 127.244.0.0/16,
so :class:`~svcnet.api.validation.common.ValidationOptions` allows them by default.

Endpoints (legacy): each subset needs ``addresses`` or ``notReadyAddresses``; each address a
valid, non-special IP, optional hostname (label) and nodeName (subdomain); ports named when more
than one, 1-65535, protocol, appProtocol.

Upstream: pkg/apis/discovery/validation/validation.go, pkg/apis/core/validation/validation.go
(ValidateEndpoints, validateEndpointAddress, ValidateNonSpecialIP, validateEndpointPort).
"""

from __future__ import annotations

from typing import Any

from svcnet.api.errors import FieldError, duplicate, invalid, not_supported, required, too_many
from svcnet.api.validation.common import (
    ValidationOptions,
    child,
    index,
    is_dns1123_subdomain,
    is_valid_label_value,
    is_valid_port_num,
    name_is_dns_subdomain,
    validate_dns1123_label,
    validate_ip,
    validate_ipv4_address,
    validate_ipv6_address,
    validate_labels,
    validate_non_special_ip,
    validate_qualified_name,
)
from svcnet.api.validation.meta import validate_object_meta, validate_object_meta_update

__all__ = [
    "ADDRESS_TYPES",
    "MAX_ADDRESSES",
    "MAX_ENDPOINTS",
    "MAX_PORTS",
    "validate_endpoint_slice",
    "validate_endpoint_slice_update",
    "validate_endpoints",
    "validate_endpoints_update",
]

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
_MAX_TOPOLOGY_LABELS = 16
_MAX_ZONE_HINTS = 8
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_DEFAULT_OPTS = ValidationOptions()


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _fqdn(path: str, name: str) -> list[FieldError]:
    """``IsFullyQualifiedDomainName``."""
    if not name:
        return [required(path)]
    if name.endswith("."):
        name = name[:-1]
    msgs = is_dns1123_subdomain(name)
    if msgs:
        return [invalid(path, name, ",".join(msgs))]
    labels = name.split(".")
    if len(labels) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in labels:
        errs = validate_dns1123_label(label, path)
        if errs:
            return [invalid(path, label, ",".join(e.detail for e in errs))]
    return []


def validate_endpoint_slice(eps: dict, opts: ValidationOptions | None = None) -> list[FieldError]:
    """``ValidateEndpointSlice`` (create)."""
    opts = opts or _DEFAULT_OPTS
    errs = validate_object_meta(eps.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    addr_type = eps.get("addressType") or ""
    if not addr_type:
        errs.append(required("addressType"))
    elif addr_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", addr_type, ADDRESS_TYPES))
    errs.extend(_validate_endpoints(_l(eps.get("endpoints")), addr_type, "endpoints", opts))
    errs.extend(_validate_ports(_l(eps.get("ports")), "ports"))
    return errs


def _validate_endpoints(endpoints: list, addr_type: str, path: str, opts: ValidationOptions) -> list[FieldError]:
    if len(endpoints) > MAX_ENDPOINTS:
        return [too_many(path, len(endpoints), MAX_ENDPOINTS)]
    errs: list[FieldError] = []
    for i, ep in enumerate(endpoints):
        ep = _d(ep)
        p = index(path, i)
        ap = child(p, "addresses")
        addresses = _l(ep.get("addresses"))
        if not addresses:
            errs.append(required(ap, "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            errs.append(too_many(ap, len(addresses), MAX_ADDRESSES))
        for j, addr in enumerate(addresses):
            aip = index(ap, j)
            if addr_type == "IPv4":
                errs.extend(validate_ipv4_address(aip, addr))
                errs.extend(validate_non_special_ip(addr, aip, allow_loopback=opts.allow_loopback_endpoints))
            elif addr_type == "IPv6":
                errs.extend(validate_ipv6_address(aip, addr))
                errs.extend(validate_non_special_ip(addr, aip, allow_loopback=opts.allow_loopback_endpoints))
            elif addr_type == "FQDN":
                errs.extend(_fqdn(aip, str(addr)))
        node = ep.get("nodeName")
        if node is not None:
            errs.extend(invalid(child(p, "nodeName"), node, m) for m in name_is_dns_subdomain(str(node)))
        topo = _d(ep.get("deprecatedTopology"))
        tp = child(p, "deprecatedTopology")
        if len(topo) > _MAX_TOPOLOGY_LABELS:
            errs.append(too_many(tp, len(topo), _MAX_TOPOLOGY_LABELS))
        errs.extend(validate_labels(topo, tp))
        if ep.get("hostname") is not None:
            errs.extend(validate_dns1123_label(str(ep["hostname"]), child(p, "hostname")))
        hints = ep.get("hints")
        if hints is not None:
            zones = _l(_d(hints).get("forZones"))
            zp = child(child(p, "hints"), "forZones")
            if len(zones) > _MAX_ZONE_HINTS:
                errs.append(too_many(zp, len(zones), _MAX_ZONE_HINTS))
                continue
            seen: set[str] = set()
            for k, zone in enumerate(zones):
                zname = str(_d(zone).get("name", ""))
                np_ = child(index(zp, k), "name")
                if zname in seen:
                    errs.append(duplicate(np_, zname))
                seen.add(zname)
                errs.extend(invalid(np_, zname, m) for m in is_valid_label_value(zname))
    return errs


def _validate_ports(ports: list, path: str) -> list[FieldError]:
    if len(ports) > MAX_PORTS:
        return [too_many(path, len(ports), MAX_PORTS)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        p = index(path, i)
        name = port.get("name") or ""
        if name:
            errs.extend(validate_dns1123_label(name, child(p, "name")))
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        else:
            names.add(name)
        proto = port.get("protocol")
        if proto is None:
            errs.append(required(child(p, "protocol")))
        elif proto not in _PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), proto, _PROTOCOLS))
        if port.get("appProtocol") is not None:
            errs.extend(validate_qualified_name(str(port["appProtocol"]), child(p, "appProtocol")))
    return errs


def validate_endpoint_slice_update(new: dict, old: dict, opts: ValidationOptions | None = None) -> list[FieldError]:
    """``ValidateEndpointSliceUpdate``: metadata update rules, the slice, immutable addressType."""
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(validate_endpoint_slice(new, opts))
    if (new.get("addressType") or "") != (old.get("addressType") or ""):
        errs.append(invalid("addressType", new.get("addressType") or "", "field is immutable"))
    return errs


# --------------------------------------------------------------------------------------------
# legacy Endpoints


def validate_endpoints(ep: dict, opts: ValidationOptions | None = None) -> list[FieldError]:
    """``ValidateEndpoints``."""
    opts = opts or _DEFAULT_OPTS
    errs = validate_object_meta(ep.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    for i, ss in enumerate(_l(ep.get("subsets"))):
        ss = _d(ss)
        p = index("subsets", i)
        addrs, not_ready = _l(ss.get("addresses")), _l(ss.get("notReadyAddresses"))
        if not addrs and not not_ready:
            errs.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for field, group in (("addresses", addrs), ("notReadyAddresses", not_ready)):
            for j, addr in enumerate(group):
                errs.extend(_validate_endpoint_address(_d(addr), index(child(p, field), j), opts))
        ports = _l(ss.get("ports"))
        for j, port in enumerate(ports):
            errs.extend(_validate_endpoint_port(_d(port), len(ports) > 1, index(child(p, "ports"), j)))
    return errs


def _validate_endpoint_address(addr: dict, path: str, opts: ValidationOptions) -> list[FieldError]:
    ip = addr.get("ip") or ""
    errs = validate_ip(child(path, "ip"), ip)
    if addr.get("hostname"):
        errs.extend(validate_dns1123_label(addr["hostname"], child(path, "hostname")))
    node = addr.get("nodeName")
    if node is not None:
        errs.extend(invalid(child(path, "nodeName"), node, m) for m in name_is_dns_subdomain(str(node)))
    errs.extend(validate_non_special_ip(ip, child(path, "ip"), allow_loopback=opts.allow_loopback_endpoints))
    return errs


def _validate_endpoint_port(port: dict, require_name: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(child(path, "name")))
    elif name:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
    num = port.get("port", 0)
    errs.extend(invalid(child(path, "port"), num, m) for m in is_valid_port_num(num))
    proto = port.get("protocol") or ""
    if not proto:
        errs.append(required(child(path, "protocol")))
    elif proto not in _PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), proto, _PROTOCOLS))
    if port.get("appProtocol") is not None:
        errs.extend(validate_qualified_name(str(port["appProtocol"]), child(path, "appProtocol")))
    return errs


def validate_endpoints_update(new: dict, old: dict, opts: ValidationOptions | None = None) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(validate_endpoints(new, opts))
    return errs
