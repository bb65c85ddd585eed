"""The in-process transport: the client's verbs call an API server's registry directly.

No socket and no serialisation, but the same pipeline as over HTTP (defaulting, validation,
allocation, admission), so a component cannot tell which transport it runs on, apart from
speed. Returned objects are fresh copies the caller may mutate; objects in watch frames are
shared and read-only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from svcnet.api.resources import ResourceType
from svcnet.apiserver.podlogs import kubelet_log, kubelet_session
from svcnet.apiserver.registry import ClusterConfig, Registry
from svcnet.client.base import Client
from svcnet.store.base import Store

__all__ = ["InProcessTransport", "local_client"]


class InProcessTransport:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._kubelets: aiohttp.ClientSession | None = None  # for logs, made on first use

    async def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str | None = None) -> dict:
        return self.registry.get(rt, namespace, name, subresource=subresource)

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
    ) -> dict:
        return self.registry.list(
            rt,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
        )

    async def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = False,
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[dict]:
        w = self.registry.watch(
            rt,
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            allow_bookmarks=allow_bookmarks,
        )
        async for frame in w.frames(timeout_seconds):
            yield frame

    async def create(self, rt: ResourceType, namespace: str | None, obj: dict, *, dry_run: bool = False) -> dict:
        return self.registry.create(rt, namespace, obj, dry_run=dry_run)

    async def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        return self.registry.update(rt, namespace, name, obj, subresource=subresource, dry_run=dry_run)

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
    ) -> dict:
        return self.registry.patch(rt, namespace, name, patch, patch_type=patch_type, subresource=subresource, dry_run=dry_run)

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
    ) -> dict:
        return self.registry.delete(
            rt,
            namespace,
            name,
            grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy,
            preconditions=preconditions,
            dry_run=dry_run,
        )

    async def bind(self, namespace: str, name: str, node: str) -> dict:
        return self.registry.bind(namespace, name, {"target": {"kind": "Node", "name": node}})

    async def logs(self, namespace: str, name: str, options: dict[str, str]) -> AsyncIterator[bytes]:
        where = self.registry.pod_log_location(namespace, name, options.get("container"))
        if where is None:  # not scheduled yet: nothing logged
            return
        if self._kubelets is None:
            self._kubelets = kubelet_session()
        async for chunk in kubelet_log(self._kubelets, *where, options):
            yield chunk

    async def close(self) -> None:
        if self._kubelets is not None:
            await self._kubelets.close()
            self._kubelets = None


def local_client(store: Store | None = None, config: ClusterConfig | None = None) -> Client:
    """A client over a fresh registry (a MemoryStore unless ``store`` is given), bootstrapped
    with the system namespaces and the ``default/kubernetes`` Service. For tests and tools."""
    if store is None:
        from svcnet.store.memory import MemoryStore

        store = MemoryStore()
    registry = Registry(store, config)
    registry.bootstrap()
    return Client(InProcessTransport(registry))
