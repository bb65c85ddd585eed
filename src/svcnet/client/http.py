"""The HTTP transport: the Kubernetes REST API over aiohttp, to our API server or a real one.

Errors come back as ``Status`` bodies and are raised as the matching
:mod:`svcnet.api.errors` class (:func:`~svcnet.api.errors.from_status`). Connection failures
are raised as :class:`~svcnet.api.errors.ServiceUnavailable` naming the server, so callers see
one error tree whatever went wrong. Watches read one JSON frame per line; an ``ERROR`` frame is
raised (410 as ``Expired``).
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from svcnet.api.errors import APIError, ServiceUnavailable, from_status
from svcnet.api.resources import ResourceType, by_name
from svcnet.client.base import Client
from svcnet.client.kubeconfig import ClusterAccess, load_kubeconfig

__all__ = ["HTTPTransport", "client_from_kubeconfig", "http_client"]

_PATCH_CONTENT = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


def _ssl_context(access: ClusterAccess) -> ssl.SSLContext | bool:
    if not access.server.startswith("https"):
        return False
    ctx = ssl.create_default_context()
    if access.insecure_skip_tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif access.ca_data:
        ctx.load_verify_locations(cadata=access.ca_data.decode())
    if access.client_cert_data and access.client_key_data:
        with tempfile.NamedTemporaryFile() as cf, tempfile.NamedTemporaryFile() as kf:
            cf.write(access.client_cert_data)
            kf.write(access.client_key_data)
            cf.flush()
            kf.flush()
            ctx.load_cert_chain(cf.name, kf.name)
    return ctx


class HTTPTransport:
    def __init__(self, access: ClusterAccess, *, timeout: float = 30.0):
        self.access = access
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        headers = {"Accept": "application/json", "User-Agent": "svcnet"}
        if access.token:
            headers["Authorization"] = f"Bearer {access.token}"
        self._headers = headers
        self._ssl = _ssl_context(access)

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=100),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    @asynccontextmanager
    async def _request(self, method: str, path: str, *, params: dict | None = None, body: Any = None, content_type: str = "application/json", timeout: float | None = -1):
        url = self.access.server + path
        data = None
        headers = {}
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        t = self.timeout if timeout == -1 else timeout
        try:
            async with self._sess().request(
                method,
                url,
                params={k: v for k, v in (params or {}).items() if v is not None},
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=t, sock_connect=10),
            ) as resp:
                if resp.status >= 400:
                    raw = await resp.read()
                    try:
                        st = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        st = {"kind": "Status", "status": "Failure", "code": resp.status, "message": raw.decode(errors="replace").strip() or resp.reason}
                    if not isinstance(st, dict) or st.get("kind") != "Status":
                        st = {"kind": "Status", "status": "Failure", "code": resp.status, "message": str(st)}
                    raise from_status(st, resp.status)
                yield resp
        except APIError:
            raise
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as e:
            raise ServiceUnavailable(f"cannot reach the API server at {self.access.server}: {e or type(e).__name__}") from e

    async def _json(self, method: str, path: str, **kw: Any) -> dict:
        async with self._request(method, path, **kw) as resp:
            return orjson.loads(await resp.read())

    # -- verbs -------------------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str | None = None) -> dict:
        return await self._json("GET", rt.path(namespace, name, subresource))

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
        params = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": str(limit) if limit else None,
            "continue": continue_,
            "resourceVersion": resource_version,
        }
        return await self._json("GET", rt.path(namespace), params=params)

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
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
            "timeoutSeconds": str(timeout_seconds) if timeout_seconds else None,
        }
        async with self._request("GET", rt.path(namespace), params=params, timeout=None) as resp:
            try:
                async for line in resp.content:
                    if not line.strip():
                        continue
                    frame = orjson.loads(line)
                    if frame.get("type") == "ERROR":
                        raise from_status(frame.get("object") or {})
                    yield frame
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
                raise ServiceUnavailable(f"watch stream from {self.access.server} broke: {e or type(e).__name__}") from e

    async def create(self, rt: ResourceType, namespace: str | None, obj: dict, *, dry_run: bool = False) -> dict:
        return await self._json("POST", rt.path(namespace), params={"dryRun": "All" if dry_run else None}, body=obj)

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
        return await self._json("PUT", rt.path(namespace, name, subresource), params={"dryRun": "All" if dry_run else None}, body=obj)

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
        return await self._json(
            "PATCH",
            rt.path(namespace, name, subresource),
            params={"dryRun": "All" if dry_run else None, "fieldManager": field_manager},
            body=patch,
            content_type=_PATCH_CONTENT[patch_type],
        )

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
        opts: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        if preconditions:
            opts["preconditions"] = preconditions
        if dry_run:
            opts["dryRun"] = ["All"]
        return await self._json("DELETE", rt.path(namespace, name), body=opts)

    async def bind(self, namespace: str, name: str, node: str) -> dict:
        rt = by_name("pods")
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        return await self._json("POST", rt.path(namespace, name, "binding"), body=body)

    async def logs(self, namespace: str, name: str, options: dict[str, str]) -> AsyncIterator[bytes]:
        path = by_name("pods").path(namespace, name, "log")
        async with self._request("GET", path, params=options, timeout=None) as resp:
            async for chunk in resp.content.iter_any():
                yield chunk

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def http_client(access: ClusterAccess, **kw: Any) -> Client:
    return Client(HTTPTransport(access, **kw), default_namespace=access.namespace)


def client_from_kubeconfig(path: str | None = None, *, context: str | None = None) -> Client:
    """A Client for the kubeconfig's current context (see :mod:`svcnet.client.kubeconfig` for
    where it is looked up). Raises KubeconfigError."""
    return http_client(load_kubeconfig(path, context=context))
