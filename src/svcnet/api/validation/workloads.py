"""Deployment and ReplicaSet (apps/v1) validation.

Theory of operation
-------------------
``ValidateDeploymentSpec`` / ``ValidateReplicaSetSpec``, in upstream order:

* ``replicas`` >= 0 (``must be greater than or equal to 0``); ReplicaSet also ``minReadySeconds``;
* ``selector`` required; validated as a metav1.LabelSelector; an empty one is
  ``spec.selector: Invalid value: v1.LabelSelector{...}: empty selector is invalid for
  deployment`` (ReplicaSets reuse the word "deployment", upstream quirk);
* the template: when the selector is not empty and does not match the template's labels,
  ``spec.template.metadata.labels: Invalid value: map[string]string{...}: `selector` does not
  match template `labels```; then ``ValidatePodTemplateSpec`` (labels at ``spec.template.labels``,
  another upstream quirk) and ``restartPolicy`` must be ``Always``;
* Deployment only: strategy (RollingUpdate needs ``rollingUpdate``; maxUnavailable/maxSurge are
  non-negative ints or percentages, not both 0, maxUnavailable <= 100%; Recreate forbids
  ``rollingUpdate``), ``minReadySeconds``, ``revisionHistoryLimit``, ``progressDeadlineSeconds``
  (> minReadySeconds).
* update: the apps/v1 strategies make ``spec.selector`` immutable
  (``spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable``).

Upstream: pkg/apis/apps/validation/validation.go, pkg/registry/apps/{deployment,replicaset}/strategy.go.
"""

from __future__ import annotations

from typing import Any

from svcnet.api.errors import FieldError, GoRepr, forbidden, go_quote, invalid, not_supported, required
from svcnet.api.validation.common import (
    child,
    go_map_repr,
    is_valid_percent,
    name_is_dns_subdomain,
    validate_label_selector,
    validate_nonnegative,
)
from svcnet.api.validation.meta import validate_object_meta, validate_object_meta_update
from svcnet.api.validation.pod import validate_pod_template_spec

__all__ = [
    "label_selector_repr",
    "validate_deployment",
    "validate_deployment_update",
    "validate_replica_set",
    "validate_replica_set_update",
]


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def label_selector_repr(sel: Any) -> GoRepr:
    """A metav1.LabelSelector as Go ``%#v`` prints it (``v1.LabelSelector{MatchLabels:...}``)."""
    sel = _d(sel)
    ml = sel.get("matchLabels")
    ml_repr = go_map_repr(ml if ml is not None else None).text
    exprs = sel.get("matchExpressions")
    if exprs is None:
        ex_repr = "[]v1.LabelSelectorRequirement(nil)"
    else:
        items = []
        for e in exprs:
            e = _d(e)
            vals = e.get("values")
            vals_repr = (
                "[]string(nil)" if vals is None else "[]string{" + ", ".join(go_quote(str(v)) for v in vals) + "}"
            )
            items.append(
                f"v1.LabelSelectorRequirement{{Key:{go_quote(str(e.get('key', '')))}, "
                f"Operator:{go_quote(str(e.get('operator', '')))}, Values:{vals_repr}}}"
            )
        ex_repr = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    return GoRepr(f"v1.LabelSelector{{MatchLabels:{ml_repr}, MatchExpressions:{ex_repr}}}")


def _validate_selector_and_template(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    sel = spec.get("selector")
    sel_path = child(path, "selector")
    if sel is None:
        errs.append(required(sel_path))
    else:
        errs.extend(validate_label_selector(_d(sel), sel_path))
        if not _d(sel).get("matchLabels") and not _d(sel).get("matchExpressions"):
            errs.append(invalid(sel_path, label_selector_repr(sel), "empty selector is invalid for deployment"))
    tpath = child(path, "template")
    # imported here: svcnet.api.labels uses validation.common, so a module-level import would cycle
    from svcnet.api.labels import selector_from_label_selector

    try:
        selector = selector_from_label_selector(sel)
    except ValueError:
        errs.append(invalid(sel_path, label_selector_repr(sel), "invalid label selector"))
        return errs
    template = _d(spec.get("template"))
    labels = _d(template.get("metadata")).get("labels")
    if not selector.empty and not selector.matches(labels or {}):
        errs.append(
            invalid(
                child(tpath, "metadata.labels"),
                go_map_repr(labels if labels is not None else None),
                "`selector` does not match template `labels`",
            )
        )
    errs.extend(validate_pod_template_spec(template, tpath))
    tspec = _d(template.get("spec"))
    rp = tspec.get("restartPolicy") or ""
    if rp != "Always":
        errs.append(not_supported(child(tpath, "spec.restartPolicy"), rp, ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(child(tpath, "spec.activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


def _int_or_percent_value(v: Any) -> int:
    if isinstance(v, str):
        if is_valid_percent(v):
            return 0
        return int(v[:-1])
    return v if isinstance(v, int) else 0


def _int_or_string_repr(v: Any) -> GoRepr:
    if isinstance(v, str):
        return GoRepr(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(v)}}}")
    return GoRepr(f"intstr.IntOrString{{Type:0, IntVal:{v if isinstance(v, int) else 0}, StrVal:\"\"}}")


def _validate_positive_int_or_percent(v: Any, path: str) -> list[FieldError]:
    if isinstance(v, str):
        return [invalid(path, _int_or_string_repr(v), m) for m in is_valid_percent(v)]
    if isinstance(v, int) and not isinstance(v, bool):
        return validate_nonnegative(v, path)
    return [invalid(path, _int_or_string_repr(v), "must be an integer or percentage (e.g '5%%')")]


def _validate_strategy(strategy: Any, path: str) -> list[FieldError]:
    strategy = _d(strategy)
    t = strategy.get("type") or ""
    ru = strategy.get("rollingUpdate")
    if t == "Recreate":
        if ru is not None:
            return [forbidden(child(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if t == "RollingUpdate":
        if ru is None:
            return [required(child(path, "rollingUpdate"), "this should be defaulted and never be nil")]
        ru = _d(ru)
        rp = child(path, "rollingUpdate")
        mu, ms = ru.get("maxUnavailable", 0), ru.get("maxSurge", 0)
        errs = _validate_positive_int_or_percent(mu, child(rp, "maxUnavailable"))
        errs.extend(_validate_positive_int_or_percent(ms, child(rp, "maxSurge")))
        if _int_or_percent_value(mu) == 0 and _int_or_percent_value(ms) == 0:
            errs.append(invalid(child(rp, "maxUnavailable"), _int_or_string_repr(mu), "may not be 0 when `maxSurge` is 0"))
        if isinstance(mu, str) and not is_valid_percent(mu) and int(mu[:-1]) > 100:
            errs.append(invalid(child(rp, "maxUnavailable"), _int_or_string_repr(mu), "must not be greater than 100%"))
        return errs
    strat_repr = GoRepr(f"apps.DeploymentStrategy{{Type:{go_quote(t)}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}")
    return [
        FieldError("NotSupported", path, strat_repr, 'supported values: "Recreate", "RollingUpdate"')
    ]


def validate_deployment(dep: dict) -> list[FieldError]:
    """``ValidateDeployment`` (create)."""
    errs = validate_object_meta(dep.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    errs.extend(_validate_deployment_spec(_d(dep.get("spec"))))
    return errs


def _validate_deployment_spec(spec: dict) -> list[FieldError]:
    errs = validate_nonnegative(spec.get("replicas", 0), "spec.replicas")
    errs.extend(_validate_selector_and_template(spec, "spec"))
    errs.extend(_validate_strategy(spec.get("strategy"), "spec.strategy"))
    min_ready = spec.get("minReadySeconds", 0) or 0
    errs.extend(validate_nonnegative(min_ready, "spec.minReadySeconds"))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(validate_nonnegative(spec["revisionHistoryLimit"], "spec.revisionHistoryLimit"))
    pds = spec.get("progressDeadlineSeconds")
    if pds is not None:
        errs.extend(validate_nonnegative(pds, "spec.progressDeadlineSeconds"))
        if isinstance(pds, int) and pds <= min_ready:
            errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs


def validate_replica_set(rs: dict) -> list[FieldError]:
    """``ValidateReplicaSet`` (create)."""
    errs = validate_object_meta(rs.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    errs.extend(_validate_replica_set_spec(_d(rs.get("spec"))))
    return errs


def _validate_replica_set_spec(spec: dict) -> list[FieldError]:
    errs = validate_nonnegative(spec.get("replicas", 0), "spec.replicas")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds", 0) or 0, "spec.minReadySeconds"))
    errs.extend(_validate_selector_and_template(spec, "spec"))
    return errs


def _selector_immutable(new: dict, old: dict) -> list[FieldError]:
    ns, os_ = _d(new.get("spec")).get("selector"), _d(old.get("spec")).get("selector")
    if _norm_selector(ns) != _norm_selector(os_):
        return [invalid("spec.selector", label_selector_repr(ns), "field is immutable")]
    return []


def _norm_selector(sel: Any) -> Any:
    if sel is None:
        return None
    sel = _d(sel)
    return (sel.get("matchLabels") or {}, sel.get("matchExpressions") or [])


def validate_deployment_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_deployment_spec(_d(new.get("spec"))))
    errs.extend(_selector_immutable(new, old))
    return errs


def validate_replica_set_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_replica_set_spec(_d(new.get("spec"))))
    errs.extend(_selector_immutable(new, old))
    return errs
