"""ONE client interface for every component, over swappable transports.

Theory of operation
-------------------
:class:`Client` is what controllers, kubelets, proxies, the DNS server and the CLI use to read
and write cluster state. It speaks in Kubernetes terms (resources, namespaces, names, label and
field selectors, resourceVersions) and returns plain JSON dicts. Where the state lives is the
transport's business:

- :class:`svcnet.client.inprocess.InProcessTransport` calls an API server's
  :class:`~svcnet.apiserver.registry.Registry` directly (no socket; same defaulting, validation
  and allocation as over HTTP, like httpx's ASGITransport calling an app in process);
- :class:`svcnet.client.http.HTTPTransport` speaks the Kubernetes REST API to our API server or
  to a real kube-apiserver (kubeconfig);

Errors are the :mod:`svcnet.api.errors` tree whatever the transport: a 404 is ``NotFound``, a
422 ``Invalid`` with its field errors, a watch that starts too far back is ``Expired``.

``watch()`` yields Kubernetes watch frames ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK,
"object": {...}}``; a watch-stream ``ERROR`` frame is raised as the matching APIError (410 is
``Expired``). Objects inside watch frames may be shared: copy before mutating.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from svcnet.api.resources import ResourceType, by_name, lookup

__all__ = ["Client", "Transport", "resource_type"]


class Transport(Protocol):
    """The verbs of the Kubernetes API. Implementations: in-process, HTTP."""

    async def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str | None = None) -> dict: ...

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict: ...

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = False,
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[dict]: ...

    async def create(self, rt: ResourceType, namespace: str | None, obj: dict, *, dry_run: bool = False) -> dict: ...

    async def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict: ...

    async def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
    ) -> dict: ...

    async def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict | None = None,
        dry_run: bool = False,
    ) -> dict: ...

    async def bind(self, namespace: str, name: str, node: str) -> dict: ...

    def logs(self, namespace: str, name: str, options: dict[str, str]) -> AsyncIterator[bytes]:
        """A container's log (``pods/log``): ``options`` are PodLogOptions as query strings."""
        ...

    async def close(self) -> None: ...


def resource_type(resource: str | ResourceType) -> ResourceType:
    """Accept ``"services"``, ``"svc"``, ``"Service"`` or a ResourceType."""
    if isinstance(resource, ResourceType):
        return resource
    try:
        return by_name(resource)
    except KeyError:
        rt = lookup(resource)
        if rt is None:
            raise ValueError(f"unknown resource type {resource!r}") from None
        return rt


class Client:
    """The client every component uses. ``namespace`` defaults to ``"default"`` for namespaced
    resources when a call gives none and the object carries none."""

    def __init__(self, transport: Transport, *, default_namespace: str = "default"):
        self.transport = transport
        self.default_namespace = default_namespace

    def _ns(self, rt: ResourceType, namespace: str | None, obj: dict | None = None) -> str | None:
        if not rt.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None:
            ns = (obj.get("metadata") or {}).get("namespace")
            if ns:
                return ns
        return self.default_namespace

    async def get(self, resource: str | ResourceType, name: str, namespace: str | None = None, *, subresource: str | None = None) -> dict:
        rt = resource_type(resource)
        return await self.transport.get(rt, self._ns(rt, namespace), name, subresource=subresource)

    async def list(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict:
        """A ``<Kind>List`` dict with ``metadata.resourceVersion`` and ``items``."""
        rt = resource_type(resource)
        ns = None if all_namespaces else (namespace if namespace or not rt.namespaced else None)
        return await self.transport.list(
            rt,
            ns,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
        )

    def watch(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = False,
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[dict]:
        """Watch frames from ``resource_version`` (None/"" : current state as ADDED, then live).
        ``namespace`` None watches every namespace."""
        rt = resource_type(resource)
        return self.transport.watch(
            rt,
            namespace if rt.namespaced else None,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            allow_bookmarks=allow_bookmarks,
            timeout_seconds=timeout_seconds,
        )

    async def create(self, resource: str | ResourceType, obj: dict, namespace: str | None = None, *, dry_run: bool = False) -> dict:
        rt = resource_type(resource)
        return await self.transport.create(rt, self._ns(rt, namespace, obj), obj, dry_run=dry_run)

    async def update(
        self,
        resource: str | ResourceType,
        obj: dict,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        """PUT the whole object (``subresource="status"`` writes only status)."""
        rt = resource_type(resource)
        name = obj["metadata"]["name"]
        return await self.transport.update(rt, self._ns(rt, namespace, obj), name, obj, subresource=subresource, dry_run=dry_run)

    async def update_status(self, resource: str | ResourceType, obj: dict, namespace: str | None = None) -> dict:
        return await self.update(resource, obj, namespace, subresource="status")

    async def patch(
        self,
        resource: str | ResourceType,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        """``patch_type``: ``merge`` (RFC 7386), ``json`` (RFC 6902), ``strategic``."""
        rt = resource_type(resource)
        return await self.transport.patch(
            rt, self._ns(rt, namespace), name, patch, patch_type=patch_type, subresource=subresource, dry_run=dry_run
        )

    async def delete(
        self,
        resource: str | ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict | None = None,
        dry_run: bool = False,
    ) -> dict:
        rt = resource_type(resource)
        return await self.transport.delete(
            rt,
            self._ns(rt, namespace),
            name,
            grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy,
            preconditions=preconditions,
            dry_run=dry_run,
        )

    async def bind_pod(self, name: str, node: str, namespace: str | None = None) -> dict:
        """Assign a pod to a node (``POST pods/<name>/binding``), as a scheduler does."""
        return await self.transport.bind(namespace or self.default_namespace, name, node)

    async def logs(
        self,
        name: str,
        namespace: str | None = None,
        *,
        container: str | None = None,
        follow: bool = False,
        previous: bool = False,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """A pod's container log, as the kubelet of its node has it (``kubectl logs``):
        chunks of bytes; with ``follow`` it goes on until the container restarts or the
        caller stops iterating."""
        opts = {"container": container, "follow": "true" if follow else None, "previous": "true" if previous else None,
                "tailLines": tail_lines, "limitBytes": limit_bytes}
        query = {k: str(v) for k, v in opts.items() if v is not None}
        async for chunk in self.transport.logs(namespace or self.default_namespace, name, query):
            if chunk:  # (b"" only says the stream is still there)
                yield chunk

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
