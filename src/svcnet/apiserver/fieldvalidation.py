"""Server-side field validation: unknown fields in request bodies (``?fieldValidation=``).

Theory of operation
-------------------
A kube-apiserver decodes a JSON body into Go structs, so a field the type does not declare
never reaches storage. What the client hears about it depends on ``fieldValidation``
(KEP-2885, GA in 1.27; staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go,
update.go, patch.go):

- ``Strict``: the request fails, HTTP 400 ``BadRequest``. For a create/update the message is
  ``<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: unknown field
  "spec.foo", unknown field "spec.ports[0].bar"`` (``transformDecodeError``); for a patch just
  ``strict decoding error: ...``. kubectl sends ``Strict`` by default (``--validate=strict``).
- ``Warn`` (the default when the parameter is absent): the field is dropped and each one is
  reported in a ``Warning: 299 - "unknown field \\"spec.foo\\""`` response header, which kubectl
  prints as ``Warning: unknown field "spec.foo"``.
- ``Ignore``: dropped silently.

svcnet stores JSON dicts, so this module supplies the "Go struct": :data:`SCHEMAS` declares the
fields of the Service-networking kinds (Service, EndpointSlice, Endpoints, Namespace) in full,
and of every kind the top level and ``metadata``. Below a field declared as :data:`ANY` (maps
such as labels; the Pod spec, which svcnet does not model) nothing is checked. Field paths are
rendered the way sigs.k8s.io/json reports them: dotted, with ``[i]`` for list items, in
document order.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANY", "SCHEMAS", "check_body", "check_patch", "parse_directive", "prune", "unknown_fields"]

#: a field whose contents are not checked (a map, or a type svcnet does not model)
ANY: Any = None

Schema = dict  # field name -> Schema | ANY | [Schema] (a list of such objects)

_OBJECT_REFERENCE = {k: ANY for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}

# k8s.io/apimachinery/pkg/apis/meta/v1/types.go ObjectMeta
_OBJECT_META: Schema = {
    **{k: ANY for k in (
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "finalizers", "managedFields",
    )},
    "ownerReferences": [{k: ANY for k in ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")}],
}

# metav1.Condition
_CONDITION = {k: ANY for k in ("type", "status", "observedGeneration", "lastTransitionTime", "reason", "message")}

# k8s.io/api/core/v1/types.go Service, ServiceSpec, ServicePort, ServiceStatus
_SERVICE: Schema = {
    "apiVersion": ANY,
    "kind": ANY,
    "metadata": _OBJECT_META,
    "spec": {
        "ports": [{k: ANY for k in ("name", "protocol", "appProtocol", "port", "targetPort", "nodePort")}],
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": ANY}},
        **{k: ANY for k in (
            "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
            "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
            "healthCheckNodePort", "publishNotReadyAddresses", "ipFamilies", "ipFamilyPolicy",
            "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy",
            "trafficDistribution",
        )},
    },
    "status": {
        "loadBalancer": {
            "ingress": [{
                "ip": ANY,
                "hostname": ANY,
                "ipMode": ANY,
                "ports": [{"port": ANY, "protocol": ANY, "error": ANY}],
            }],
        },
        "conditions": [_CONDITION],
    },
}

# k8s.io/api/discovery/v1/types.go
_ENDPOINT_SLICE: Schema = {
    "apiVersion": ANY,
    "kind": ANY,
    "metadata": _OBJECT_META,
    "addressType": ANY,
    "endpoints": [{
        "addresses": ANY,
        "conditions": {"ready": ANY, "serving": ANY, "terminating": ANY},
        "hostname": ANY,
        "targetRef": _OBJECT_REFERENCE,
        "deprecatedTopology": ANY,
        "nodeName": ANY,
        "zone": ANY,
        "hints": {"forZones": [{"name": ANY}], "forNodes": [{"name": ANY}]},
    }],
    "ports": [{k: ANY for k in ("name", "protocol", "port", "appProtocol")}],
}

# k8s.io/api/core/v1/types.go Endpoints
_ENDPOINT_ADDRESS = {"ip": ANY, "hostname": ANY, "nodeName": ANY, "targetRef": _OBJECT_REFERENCE}
_ENDPOINTS: Schema = {
    "apiVersion": ANY,
    "kind": ANY,
    "metadata": _OBJECT_META,
    "subsets": [{
        "addresses": [_ENDPOINT_ADDRESS],
        "notReadyAddresses": [_ENDPOINT_ADDRESS],
        "ports": [{k: ANY for k in ("name", "port", "protocol", "appProtocol")}],
    }],
}

_NAMESPACE: Schema = {
    "apiVersion": ANY,
    "kind": ANY,
    "metadata": _OBJECT_META,
    "spec": {"finalizers": ANY},
    "status": {"phase": ANY, "conditions": [{k: ANY for k in ("type", "status", "lastTransitionTime", "reason", "message")}]},
}


def _top(**extra: Any) -> Schema:
    """A kind svcnet checks only at the top level and in ``metadata``."""
    return {"apiVersion": ANY, "kind": ANY, "metadata": _OBJECT_META, "spec": ANY, "status": ANY, **extra}


#: resource name -> schema; a resource that is missing here is not checked at all
SCHEMAS: dict[str, Schema] = {
    "services": _SERVICE,
    "endpointslices": _ENDPOINT_SLICE,
    "endpoints": _ENDPOINTS,
    "namespaces": _NAMESPACE,
    "nodes": _top(),
    "pods": _top(),
    "deployments": _top(),
    "replicasets": _top(),
}

DIRECTIVES = ("Strict", "Warn", "Ignore")


def parse_directive(value: str | None) -> str:
    """The ``fieldValidation`` query value; absent means ``Warn`` (upstream's default)."""
    if not value:
        return "Warn"
    if value not in DIRECTIVES:
        raise ValueError(f'fieldValidation must be one of "Ignore", "Strict", "Warn", not "{value}"')
    return value


def unknown_fields(obj: Any, schema: Schema | None, *, patch: bool = False, path: str = "") -> list[str]:
    """Paths of the fields of ``obj`` that ``schema`` does not declare, in document order.
    With ``patch`` the strategic-merge-patch directives (``$patch``, ``$setElementOrder/x``,
    ``$retainKeys``, ``$deleteFromPrimitiveList/x``) are not fields."""
    out: list[str] = []
    _walk(obj, schema, patch, path, out)
    return out


def _walk(obj: Any, schema: Any, patch: bool, path: str, out: list[str]) -> None:
    if schema is ANY or not isinstance(obj, dict):
        return
    for k, v in obj.items():
        if patch and isinstance(k, str) and k.startswith("$"):
            continue
        p = f"{path}.{k}" if path else k
        if k not in schema:
            out.append(p)
            continue
        sub = schema[k]
        if isinstance(sub, list):
            if isinstance(v, list):
                for i, item in enumerate(v):
                    _walk(item, sub[0], patch, f"{p}[{i}]", out)
        else:
            _walk(v, sub, patch, p, out)


def prune(obj: Any, schema: Schema | None, *, patch: bool = False) -> Any:
    """``obj`` without the fields ``schema`` does not declare (a new object; ``obj`` is not
    modified). What decoding into the Go type does to them."""
    if schema is ANY or not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if patch and isinstance(k, str) and k.startswith("$"):
            out[k] = v
            continue
        if k not in schema:
            continue
        sub = schema[k]
        if isinstance(sub, list):
            out[k] = [prune(item, sub[0], patch=patch) for item in v] if isinstance(v, list) else v
        else:
            out[k] = prune(v, sub, patch=patch)
    return out


def _warnings(fields: list[str]) -> list[str]:
    return [f'unknown field "{f}"' for f in fields]


def check_body(resource: str, kind: str, version: str, body: dict, directive: str) -> tuple[dict, list[str], str | None]:
    """For a POST/PUT body: ``(body to use, warnings, error message or None)``. With an error
    the request must fail with 400 BadRequest and that message."""
    schema = SCHEMAS.get(resource)
    if schema is None:
        return body, [], None
    unknown = unknown_fields(body, schema)
    if not unknown:
        return body, [], None
    if directive == "Strict":
        detail = ", ".join(_warnings(unknown))
        return body, [], f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {detail}'
    return prune(body, schema), (_warnings(unknown) if directive == "Warn" else []), None


def check_patch(resource: str, patch: Any, directive: str) -> tuple[Any, list[str], str | None]:
    """For a merge or strategic merge patch: the same as :func:`check_body` (upstream checks
    the patched object; the unknown fields it can gain are exactly those the patch names).
    JSON patches (lists of operations) pass unchecked."""
    schema = SCHEMAS.get(resource)
    if schema is None or not isinstance(patch, dict):
        return patch, [], None
    unknown = unknown_fields(patch, schema, patch=True)
    if not unknown:
        return patch, [], None
    if directive == "Strict":
        return patch, [], "strict decoding error: " + ", ".join(_warnings(unknown))
    return prune(patch, schema, patch=True), (_warnings(unknown) if directive == "Warn" else []), None
