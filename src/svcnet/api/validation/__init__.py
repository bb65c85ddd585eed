"""Validation of whole API objects, with upstream's exact error texts.

Theory of operation
-------------------
:func:`validate` is what the registry calls after defaulting (and, for Services, after the
clusterIP normalisation and allocation of ``begin_create``): ``old is None`` means create
(``Validate<Kind>``), otherwise update (``Validate<Kind>Update``, which checks ObjectMeta
immutability first and then re-validates the object). :func:`validate_status_update` is the
``/status`` subresource's check (``Validate<Kind>StatusUpdate``).

Dispatch is on ``(apiVersion, kind)``; kinds in :mod:`svcnet.api.resources` without a specific
validator get ObjectMeta validation (DNS-1123 subdomain names); unknown kinds validate to ``[]``.
Every function returns ``list[FieldError]`` and never raises; the caller turns a non-empty list
into :class:`svcnet.api.errors.Invalid`.

:class:`ValidationOptions` holds the places where svcnet differs from upstream on purpose
(today: loopback endpoint addresses, allowed by default for the local mode).

Modules: :mod:`.common` (formats, IPs), :mod:`.meta`, :mod:`.service`, :mod:`.pod`,
:mod:`.endpointslice`, :mod:`.workloads`, :mod:`.node`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from svcnet.api.errors import FieldError
from svcnet.api.resources import by_kind
from svcnet.api.validation.common import ValidationOptions, name_is_dns_subdomain, validate_nonnegative
from svcnet.api.validation.endpointslice import (
    validate_endpoint_slice,
    validate_endpoint_slice_update,
    validate_endpoints,
    validate_endpoints_update,
)
from svcnet.api.validation.meta import validate_object_meta, validate_object_meta_update
from svcnet.api.validation.node import (
    validate_namespace,
    validate_namespace_status_update,
    validate_namespace_update,
    validate_node,
    validate_node_update,
)
from svcnet.api.validation.pod import validate_pod, validate_pod_status_update, validate_pod_update
from svcnet.api.validation.service import (
    validate_cluster_ips_related_fields,
    validate_service,
    validate_service_status_update,
    validate_service_update,
)
from svcnet.api.validation.workloads import (
    validate_deployment,
    validate_deployment_update,
    validate_replica_set,
    validate_replica_set_update,
)

__all__ = [
    "ValidationOptions",
    "validate",
    "validate_cluster_ips_related_fields",
    "validate_service",
    "validate_service_update",
    "validate_status_update",
]

_Create = Callable[[dict, ValidationOptions], list[FieldError]]
_Update = Callable[[dict, dict, ValidationOptions], list[FieldError]]

_CREATE: dict[tuple[str, str], _Create] = {
    ("v1", "Service"): lambda o, _: validate_service(o),
    ("v1", "Pod"): lambda o, _: validate_pod(o),
    ("v1", "Endpoints"): validate_endpoints,
    ("v1", "Node"): lambda o, _: validate_node(o),
    ("v1", "Namespace"): lambda o, _: validate_namespace(o),
    ("discovery.k8s.io/v1", "EndpointSlice"): validate_endpoint_slice,
    ("apps/v1", "Deployment"): lambda o, _: validate_deployment(o),
    ("apps/v1", "ReplicaSet"): lambda o, _: validate_replica_set(o),
}

_UPDATE: dict[tuple[str, str], _Update] = {
    ("v1", "Service"): lambda n, o, _: validate_service_update(n, o),
    ("v1", "Pod"): lambda n, o, _: validate_pod_update(n, o),
    ("v1", "Endpoints"): validate_endpoints_update,
    ("v1", "Node"): lambda n, o, _: validate_node_update(n, o),
    ("v1", "Namespace"): lambda n, o, _: validate_namespace_update(n, o),
    ("discovery.k8s.io/v1", "EndpointSlice"): validate_endpoint_slice_update,
    ("apps/v1", "Deployment"): lambda n, o, _: validate_deployment_update(n, o),
    ("apps/v1", "ReplicaSet"): lambda n, o, _: validate_replica_set_update(n, o),
}


def _key(obj: Any) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return ("", "")
    return (str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))


def validate(obj: dict, old: dict | None = None, *, opts: ValidationOptions | None = None) -> list[FieldError]:
    """Validate a whole object on create (``old is None``) or update."""
    opts = opts or ValidationOptions()
    k = _key(obj)
    if old is None:
        fn = _CREATE.get(k)
        if fn is not None:
            return fn(obj, opts)
    else:
        ufn = _UPDATE.get(k)
        if ufn is not None:
            return ufn(obj, old, opts)
    rt = by_kind(*k)
    if rt is None:
        return []
    if old is None:
        return validate_object_meta(obj.get("metadata"), namespaced=rt.namespaced, name_fn=name_is_dns_subdomain)
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_object_meta(obj.get("metadata"), namespaced=rt.namespaced, name_fn=name_is_dns_subdomain))
    return errs


def _replica_status(obj: dict, old: dict) -> list[FieldError]:
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    for f in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "fullyLabeledReplicas",
              "unavailableReplicas", "observedGeneration"):
        if f in status:
            errs.extend(validate_nonnegative(status[f], f"status.{f}"))
    return errs


_STATUS: dict[tuple[str, str], Callable[[dict, dict], list[FieldError]]] = {
    ("v1", "Service"): validate_service_status_update,
    ("v1", "Pod"): validate_pod_status_update,
    ("v1", "Node"): validate_node_update,
    ("v1", "Namespace"): validate_namespace_status_update,
    ("apps/v1", "Deployment"): _replica_status,
    ("apps/v1", "ReplicaSet"): _replica_status,
}


def validate_status_update(obj: dict, old: dict, *, opts: ValidationOptions | None = None) -> list[FieldError]:
    """Validate a ``/status`` write (the registry has already reset spec to the stored one)."""
    fn = _STATUS.get(_key(obj))
    if fn is not None:
        return fn(obj, old)
    return validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
