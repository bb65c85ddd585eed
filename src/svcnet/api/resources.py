"""The resource types svcnet serves, as data.

One :class:`ResourceType` per resource: its REST name, kind, group/version, scope and short
names. Everything that maps between a kind, a plural, a URL or a ``kubectl get`` argument
(``svc``, ``services``, ``service``, ``endpointslices.discovery.k8s.io``) looks it up here.

Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RESOURCES",
    "ResourceType",
    "by_kind",
    "by_name",
    "lookup",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceType:
    name: str  # plural REST name: "services"
    singular: str  # "service"
    kind: str  # "Service"
    group: str  # "" for the core group
    version: str  # "v1"
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )

    @property
    def api_version(self) -> str:
        """``v1`` or ``discovery.k8s.io/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``services`` or ``endpointslices.discovery.k8s.io`` (used in error messages)."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path: ``/api/v1/namespaces/default/services/web/status``."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.name)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        name="namespaces", singular="namespace", kind="Namespace", group="", version="v1",
        namespaced=False, short_names=("ns",), subresources=("status",),
    ),
    ResourceType(
        name="nodes", singular="node", kind="Node", group="", version="v1",
        namespaced=False, short_names=("no",), subresources=("status",),
    ),
    ResourceType(
        name="pods", singular="pod", kind="Pod", group="", version="v1",
        namespaced=True, short_names=("po",), subresources=("status", "binding", "log"), categories=("all",),
    ),
    ResourceType(
        name="services", singular="service", kind="Service", group="", version="v1",
        namespaced=True, short_names=("svc",), subresources=("status",), categories=("all",),
    ),
    ResourceType(
        name="endpoints", singular="endpoints", kind="Endpoints", group="", version="v1",
        namespaced=True, short_names=("ep",),
    ),
    ResourceType(
        name="events", singular="event", kind="Event", group="", version="v1",
        namespaced=True, short_names=("ev",),
    ),
    ResourceType(
        name="endpointslices", singular="endpointslice", kind="EndpointSlice",
        group="discovery.k8s.io", version="v1", namespaced=True,
    ),
    ResourceType(
        name="deployments", singular="deployment", kind="Deployment", group="apps", version="v1",
        namespaced=True, short_names=("deploy",), subresources=("status", "scale"), categories=("all",),
    ),
    ResourceType(
        name="replicasets", singular="replicaset", kind="ReplicaSet", group="apps", version="v1",
        namespaced=True, short_names=("rs",), subresources=("status", "scale"), categories=("all",),
    ),
)

_BY_NAME = {r.name: r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


def by_name(name: str) -> ResourceType:
    """The resource with this plural REST name; KeyError if unknown."""
    return _BY_NAME[name]


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource for an object's ``apiVersion``/``kind``, or None if we don't serve it."""
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    r = _BY_KIND.get((group, kind))
    if r is None or r.api_version != api_version:
        return None
    return r


def lookup(arg: str) -> ResourceType | None:
    """Resolve a ``kubectl get`` argument: plural, singular, short name, kind, or ``name.group``."""
    a = arg.strip()
    low = a.lower()
    group = None
    if "." in low:
        low, group = low.split(".", 1)
    for r in RESOURCES:
        if group is not None and group not in (r.group, f"{r.version}.{r.group}".rstrip(".")):
            continue
        if low in (r.name, r.singular, r.kind.lower()) or low in r.short_names:
            return r
    return None
