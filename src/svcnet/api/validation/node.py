"""Node and Namespace validation (small: the parts svcnet relies on).

Theory of operation
-------------------
Node (``ValidateNode``/``ValidateNodeUpdate``): cluster-scoped, DNS-1123 subdomain names;
``spec.podCIDRs`` must be CIDRs, at most one per family, no duplicates; ``spec.taints`` keys are
label names, values label values, effects NoSchedule/PreferNoSchedule/NoExecute, unique by
(key, effect). On update, podCIDRs and providerID may only go from unset to set, and
``status.addresses`` must not repeat.

Namespace (``ValidateNamespace``/``ValidateNamespaceUpdate``/``ValidateNamespaceStatusUpdate``):
DNS-1123 *label* names; ``spec.finalizers`` qualified names that, without a ``/``, must be
standard ones (``kubernetes``); status phase must be ``Active`` unless a deletion timestamp is
set (then ``Terminating``) - note the capital-P path ``status.Phase`` (upstream quirk).

Upstream: pkg/apis/core/validation/validation.go.
"""

from __future__ import annotations

from typing import Any

from svcnet.api.errors import FieldError, GoRepr, duplicate, forbidden, go_quote, invalid, required
from svcnet.api.validation.common import (
    child,
    index,
    is_dual_stack_ips,
    is_qualified_name,
    is_valid_label_value,
    name_is_dns_label,
    name_is_dns_subdomain,
    parse_cidr_sloppy,
    validate_cidr,
    validate_label_name,
)
from svcnet.api.validation.meta import STANDARD_FINALIZERS, validate_object_meta, validate_object_meta_update

__all__ = [
    "validate_namespace",
    "validate_namespace_status_update",
    "validate_namespace_update",
    "validate_node",
    "validate_node_update",
]

_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _validate_taints(taints: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: dict[str, set[str]] = {}
    for i, t in enumerate(taints):
        t = _d(t)
        p = index(path, i)
        k, v, eff = str(t.get("key", "")), str(t.get("value", "")), t.get("effect") or ""
        errs.extend(validate_label_name(k, child(p, "key")))
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(invalid(child(p, "value"), v, ";".join(msgs)))
        if not eff:
            errs.append(required(child(p, "effect")))
        elif eff not in _TAINT_EFFECTS:
            errs.append(
                FieldError(
                    "NotSupported",
                    child(p, "effect"),
                    eff,
                    "supported values: " + ", ".join(go_quote(e) for e in _TAINT_EFFECTS),
                )
            )
        if k in seen.get(eff, set()):
            errs.append(
                FieldError(
                    "Duplicate",
                    p,
                    GoRepr(f"core.Taint{{Key:{go_quote(k)}, Value:{go_quote(v)}, Effect:{go_quote(eff)}, TimeAdded:<nil>}}"),
                    "taints must be unique by key and effect pair",
                )
            )
            continue
        seen.setdefault(eff, set()).add(k)
    return errs


def validate_node(node: dict) -> list[FieldError]:
    errs = validate_object_meta(node.get("metadata"), namespaced=False, name_fn=name_is_dns_subdomain)
    spec = _d(node.get("spec"))
    errs.extend(_validate_taints(_l(spec.get("taints")), "metadata.taints"))  # sic: upstream path
    cidrs = _l(spec.get("podCIDRs"))
    for i, c in enumerate(cidrs):
        errs.extend(validate_cidr(index("spec.podCIDRs", i), c))
    if len(cidrs) > 1:
        ips = []
        for c in cidrs:
            parsed = parse_cidr_sloppy(c)
            ips.append(str(parsed[0]) if parsed else "")
        if not is_dual_stack_ips(ips) or len(cidrs) > 2:
            errs.append(
                invalid(
                    "spec.podCIDRs",
                    GoRepr("[]string{" + ", ".join(go_quote(str(c)) for c in cidrs) + "}"),
                    "may specify no more than one CIDR for each IP family",
                )
            )
        seen: set[str] = set()
        for i, c in enumerate(cidrs):
            if c in seen:
                errs.append(duplicate(index("spec.podCIDRs", i), c))
            seen.add(c)
    return errs


def validate_node_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    ns, os_ = _d(new.get("spec")), _d(old.get("spec"))
    seen: set[tuple[str, str]] = set()
    for i, a in enumerate(_l(_d(new.get("status")).get("addresses"))):
        a = _d(a)
        k = (str(a.get("type", "")), str(a.get("address", "")))
        if k in seen:
            errs.append(
                duplicate(
                    index("status.addresses", i),
                    GoRepr(f"core.NodeAddress{{Type:{go_quote(k[0])}, Address:{go_quote(k[1])}}}"),
                )
            )
        seen.add(k)
    old_cidrs, new_cidrs = _l(os_.get("podCIDRs")), _l(ns.get("podCIDRs"))
    msg = 'node updates may not change podCIDR except from "" to valid'
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            errs.append(forbidden("spec.podCIDRs", msg))
        else:
            errs.extend(forbidden("spec.podCIDRs", msg) for o, n in zip(old_cidrs, new_cidrs) if o != n)
    if os_.get("providerID") and os_.get("providerID") != ns.get("providerID"):
        errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    errs.extend(_validate_taints(_l(ns.get("taints")), "metadata.taints"))
    return errs


def validate_namespace(ns: dict) -> list[FieldError]:
    errs = validate_object_meta(ns.get("metadata"), namespaced=False, name_fn=name_is_dns_label)
    for f in _l(_d(ns.get("spec")).get("finalizers")):
        f = str(f)
        errs.extend(invalid("spec.finalizers", f, m) for m in is_qualified_name(f))
        if "/" not in f and f not in STANDARD_FINALIZERS:
            errs.append(invalid("spec.finalizers", f, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def validate_namespace_update(new: dict, old: dict) -> list[FieldError]:
    return validate_object_meta_update(new.get("metadata"), old.get("metadata"))


def validate_namespace_status_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    phase = _d(new.get("status")).get("phase") or ""
    if not _d(new.get("metadata")).get("deletionTimestamp"):
        if phase != "Active":
            errs.append(invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty"))
    elif phase != "Terminating":
        errs.append(invalid("status.Phase", phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
    return errs
