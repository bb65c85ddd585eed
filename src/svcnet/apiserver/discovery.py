"""Discovery documents (``/api``, ``/apis``, ``/api/v1``...), ``/version`` and a small OpenAPI.

Pure: every function builds a JSON-ready dict from :data:`svcnet.api.resources.RESOURCES`.
kubectl reads these to map ``svc`` to ``/api/v1/.../services``; the OpenAPI v3 documents list
the query parameters kubectl probes for (``fieldValidation``, ``dryRun``) so it sends them, and
a permissive schema per kind so client-side tooling has something to read.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from svcnet import __version__
from svcnet.api.resources import RESOURCES, ResourceType

__all__ = [
    "KUBERNETES_VERSION",
    "OPENAPI_V2_PROTOBUF",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "group_versions",
    "openapi_v2",
    "openapi_v2_protobuf",
    "openapi_v3_group",
    "openapi_v3_index",
    "version_info",
]

#: the Kubernetes API version we present (the object shapes and behaviour we implement)
KUBERNETES_VERSION = (1, 31, 0)


def version_info() -> dict:
    major, minor, patch = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}+svcnet.{__version__}",
        "gitCommit": "svcnet",
        "gitTreeState": "clean",
        "buildDate": "2026-11-28T00:00:00Z",
        "goVersion": "python3",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) we serve, core first."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        gv = (r.group, r.version)
        if gv not in seen:
            seen.append(gv)
    return seen


def api_versions(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str) -> dict:
    versions = [{"groupVersion": f"{g}/{v}", "version": v} for g, v in group_versions() if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    groups = [g for g, _ in group_versions() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in dict.fromkeys(groups)]}


def api_group(group: str) -> dict | None:
    if group not in {g for g, _ in group_versions() if g}:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def _resource_entries(r: ResourceType) -> list[dict]:
    main: dict[str, Any] = {
        "name": r.name,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for sub in r.subresources:
        entry: dict[str, Any] = {"name": f"{r.name}/{sub}", "singularName": "", "namespaced": r.namespaced}
        if sub == "binding":
            entry.update(kind="Binding", verbs=["create"])
        elif sub == "log":
            entry.update(kind=r.kind, verbs=["get"])
        elif sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale", verbs=["get", "patch", "update"])
        else:
            entry.update(kind=r.kind, verbs=["get", "patch", "update"])
        out.append(entry)
    return out


def api_resource_list(group: str, version: str) -> dict | None:
    rs = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rs:
        return None
    resources = [e for r in rs for e in _resource_entries(r)]
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# ---------------------------------------------------------------------------------------------
# OpenAPI

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _gvk(r: ResourceType) -> dict:
    return {"group": r.group, "version": r.version, "kind": r.kind}


def _schema_name(r: ResourceType) -> str:
    # upstream names: io.k8s.api.core.v1.Service, io.k8s.api.discovery.v1.EndpointSlice
    pkg = {"": "core", "discovery.k8s.io": "discovery", "apps": "apps"}.get(r.group, r.group)
    return f"io.k8s.api.{pkg}.{r.version}.{r.kind}"


def _operations(r: ResourceType, v3: bool) -> dict:
    params = [{"name": p, "in": "query", "schema": {"type": "string"}} if v3 else {"name": p, "in": "query", "type": "string", "uniqueItems": True} for p in _QUERY_PARAMS]
    ref = f"#/components/schemas/{_schema_name(r)}" if v3 else f"#/definitions/{_schema_name(r)}"
    op = {
        "parameters": params,
        "responses": {"200": {"description": "OK", **({"content": {"application/json": {"schema": {"$ref": ref}}}} if v3 else {"schema": {"$ref": ref}})}},
        "x-kubernetes-group-version-kind": _gvk(r),
    }
    return {"get": dict(op, parameters=[]), "put": op, "patch": op, "delete": op}


def _schema(r: ResourceType) -> dict:
    return {
        "type": "object",
        "description": f"{r.kind} ({r.api_version}); svcnet serves a permissive schema.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-group-version-kind": [_gvk(r)],
    }


def _paths(rs: list[ResourceType], v3: bool) -> dict:
    paths: dict[str, Any] = {}
    for r in rs:
        if r.namespaced:
            p = r.path("{namespace}", "{name}")
        else:
            p = r.path(None, "{name}")
        paths[p] = _operations(r, v3)
    return paths


def openapi_v2() -> dict:
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes (svcnet)", "version": f"v{'.'.join(map(str, KUBERNETES_VERSION))}"},
        "paths": _paths(list(RESOURCES), False),
        "definitions": {_schema_name(r): _schema(r) for r in RESOURCES},
    }


#: the media type /openapi/v2 answers in protobuf with. kubectl asks for the older
#: ``...spec.v2@v1.0+protobuf`` spelling, but client-go's ``mime.ParseMediaType`` rejects an
#: ``@`` in a response Content-Type, so the server answers with the dotted form, as
#: kube-openapi's handler does (``subTypeProtobuf`` for ``subTypeProtobufDeprecated``).
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _pb_bytes(field: int, data: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2: strings and sub-messages)."""
    return _pb_varint(field << 3 | 2) + _pb_varint(len(data)) + data


def openapi_v2_protobuf() -> bytes:
    """``/openapi/v2`` as the gnostic ``openapi_v2.Document`` protobuf that kubectl <= 1.27
    parses before ``create``/``apply`` (it fails on a JSON answer). Only ``swagger``, ``info``
    and an empty ``paths`` are encoded (fields 1, 2 and 8 of
    github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto): with no definitions kubectl
    finds no client-side schema for a kind, so it skips client-side validation and relies on
    the server (``fieldValidation``, advertised in the v3 documents), and ``apply`` computes
    strategic merge patches from its compiled-in Go types, as it does for any unknown schema."""
    info = _pb_bytes(1, b"Kubernetes (svcnet)") + _pb_bytes(2, f"v{'.'.join(map(str, KUBERNETES_VERSION))}".encode())
    return _pb_bytes(1, b"2.0") + _pb_bytes(2, info) + _pb_bytes(8, b"")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_group(group: str, version: str) -> dict | None:
    rs = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rs:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (svcnet)", "version": f"v{'.'.join(map(str, KUBERNETES_VERSION))}"},
        "paths": _paths(rs, True),
        "components": {"schemas": {_schema_name(r): _schema(r) for r in rs}},
    }


def openapi_v3_index() -> dict:
    paths = {}
    for g, v in group_versions():
        doc = openapi_v3_group(g, v)
        digest = hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32].upper()
        p = _gv_path(g, v)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={digest}"}
    return {"paths": paths}
