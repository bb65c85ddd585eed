"""The Kubernetes REST shape over the registry, on aiohttp.

Theory of operation
-------------------
One catch-all route; :func:`parse_path` turns a URL into a :class:`Target` (discovery document,
or resource + namespace + name + subresource), the verb comes from the method and the ``watch``
parameter, and the handler calls the :class:`~svcnet.apiserver.registry.Registry`. Errors are
:class:`~svcnet.api.errors.APIError` everywhere below; :func:`_error_response` is the one place
that turns them into a ``Status`` body with its HTTP code.

Watches stream one JSON frame per line (``Transfer-Encoding: chunked``). A watch that starts
from a compacted version gets an ``ERROR`` frame with a 410 ``Expired`` Status, as the
kube-apiserver sends. A frame's bytes are built once per event and shared by every watcher
without a selector (50 watchers must not serialise the same object 50 times).

``Accept: application/json;as=Table;g=meta.k8s.io;v=v1`` returns the server-side Table that
``kubectl get`` prints (:mod:`svcnet.apiserver.tables`), for lists, single objects and watches.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

from svcnet.api.errors import (
    APIError,
    BadRequest,
    Expired,
    InternalError,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)
from svcnet.api.resources import RESOURCES, ResourceType
from svcnet.apiserver import discovery, fieldvalidation
from svcnet.apiserver.auth import TokenAuth, User
from svcnet.apiserver.podlogs import kubelet_session, stream_log
from svcnet.apiserver.registry import Registry

__all__ = ["HANDLER", "Target", "make_app", "parse_path"]

log = logging.getLogger(__name__)

JSON = "application/json"
PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}

#: ``app[HANDLER]`` is the application's :class:`APIHandler` (its counters, frame cache)
HANDLER: "web.AppKey[APIHandler]" = web.AppKey("handler")

_BY_GV_NAME: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.name): r for r in RESOURCES}


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL names. ``doc`` is set for discovery/health paths, ``rt`` for resources."""

    doc: str | None = None
    group: str = ""
    version: str = ""
    rt: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    legacy_watch: bool = False


def parse_path(path: str) -> Target:
    """Map a request path to a :class:`Target`. Raises NotFound for unknown paths."""
    segs = [s for s in path.split("/") if s]
    if not segs:
        return Target(doc="root")
    head = segs[0]
    if head in ("version", "healthz", "livez", "readyz") and len(segs) == 1:
        return Target(doc=head)
    if head == "openapi":
        if segs[1:] == ["v2"]:
            return Target(doc="openapi/v2")
        if segs[1:2] == ["v3"]:
            rest = segs[2:]
            if not rest:
                return Target(doc="openapi/v3")
            if rest[0] == "api" and len(rest) == 2:
                return Target(doc="openapi/v3/gv", group="", version=rest[1])
            if rest[0] == "apis" and len(rest) == 3:
                return Target(doc="openapi/v3/gv", group=rest[1], version=rest[2])
        raise NotFound("the server could not find the requested resource")
    if head == "api":
        if len(segs) == 1:
            return Target(doc="api")
        group, version, rest = "", segs[1], segs[2:]
    elif head == "apis":
        if len(segs) == 1:
            return Target(doc="apis")
        if len(segs) == 2:
            return Target(doc="group", group=segs[1])
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        raise NotFound("the server could not find the requested resource")
    if not rest:
        return Target(doc="resources", group=group, version=version)
    legacy_watch = False
    if rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in _BY_GV_NAME:
        namespace, rest = rest[1], rest[2:]
    rt = _BY_GV_NAME.get((group, version, rest[0]))
    if rt is None or len(rest) > 3:
        raise NotFound("the server could not find the requested resource")
    if namespace is not None and not rt.namespaced:
        raise NotFound("the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in rt.subresources:
        raise NotFound("the server could not find the requested resource")
    return Target(group=group, version=version, rt=rt, namespace=namespace, name=name, subresource=sub, legacy_watch=legacy_watch)


def _truthy(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "yes")


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        p = part.replace(" ", "")
        if "as=Table" in p and "g=meta.k8s.io" in p:
            return True
    return False


#: bodies svcnet cannot decode: typed client-go clients (kubectl >= 1.32's ``create service``
#: and ``create namespace``) send protobuf, newer ones may send CBOR. A 415 says so plainly instead of a JSON
#: decode error about invalid UTF-8.
_BINARY_BODIES = ("application/vnd.kubernetes.protobuf", "application/cbor")


def _check_json_body(request: web.Request) -> None:
    if request.content_type in _BINARY_BODIES:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - svcnet accepts application/json "
            f"and application/yaml, not {request.content_type}"
        )


def _warning_header(text: str) -> str:
    """RFC 7234 warn-value as the kube-apiserver sends it: ``299 - "<text>"``."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    resp = web.Response(body=orjson.dumps(obj), status=status, content_type=JSON)
    for w in warnings or ():
        resp.headers.add("Warning", _warning_header(w))
    return resp


def _error_response(err: APIError) -> web.Response:
    return web.Response(body=orjson.dumps(err.status), status=err.code, content_type=JSON)


class _FrameCache:
    """Bytes of recent watch frames, shared across watchers.

    Keyed by (revision, type, resource, namespace, name), not by revision alone: a watch that
    starts without a resourceVersion first gets one synthetic ADDED per existing object, all
    at the *current* revision, so (revision, type) would hand the first object's bytes out
    for every other one (and across resources that share a name)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._d: OrderedDict[tuple[int, str, str, str, str], bytes] = OrderedDict()

    def get(self, rev: int, frame: dict, resource: str) -> bytes:
        md = frame["object"].get("metadata") or {}
        key = (rev, frame["type"], resource, md.get("namespace") or "", md.get("name") or "")
        b = self._d.get(key)
        if b is None:
            b = orjson.dumps(frame) + b"\n"
            self._d[key] = b
            if len(self._d) > self.size:
                self._d.popitem(last=False)
        return b


class APIHandler:
    """Routes requests to the registry."""

    def __init__(self, registry: Registry, auth: TokenAuth | None, server_address: str):
        self.registry = registry
        self.auth = auth
        self.server_address = server_address
        self.frames = _FrameCache()
        self.active_watches = 0
        self._kubelets: aiohttp.ClientSession | None = None  # for pods/log, made on first use

    async def close(self, _app: web.Application | None = None) -> None:
        if self._kubelets is not None:
            await self._kubelets.close()
            self._kubelets = None

    async def _pod_log(self, request: web.Request, t: Target) -> web.StreamResponse:
        where = self.registry.pod_log_location(t.namespace, t.name or "", request.query.get("container"))
        if where is None:  # not scheduled yet: nothing logged
            return web.Response(body=b"", content_type="text/plain")
        if self._kubelets is None:
            self._kubelets = kubelet_session()
        return await stream_log(request, self._kubelets, *where)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self.auth.authenticate(request.path, request.headers.get("Authorization")) if self.auth else None
            target = parse_path(request.path)
            if target.doc is not None:
                return self._document(target, request)
            return await self._resource(target, request, user)
        except APIError as e:
            return _error_response(e)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # a bug: answer 500 with the message, keep serving
            log.exception("internal error serving %s %s", request.method, request.path)
            return _error_response(InternalError.of(f"{type(e).__name__}: {e}"))

    # -- documents ---------------------------------------------------------------------------

    def _document(self, t: Target, request: web.Request) -> web.Response:
        if request.method != "GET":
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        doc: Any
        if t.doc in ("healthz", "livez", "readyz"):
            return web.Response(text="ok", content_type="text/plain")
        if t.doc == "version":
            doc = discovery.version_info()
        elif t.doc == "root":
            doc = {"paths": sorted({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3"} | {f"/apis/{g}/{v}" for g, v in discovery.group_versions() if g})}
        elif t.doc == "api":
            doc = discovery.api_versions(self.server_address)
        elif t.doc == "apis":
            doc = discovery.api_group_list()
        elif t.doc == "group":
            doc = discovery.api_group(t.group)
        elif t.doc == "resources":
            doc = discovery.api_resource_list(t.group, t.version)
        elif t.doc == "openapi/v2":
            # kubectl <= 1.27 asks for (and only parses) the protobuf form before create/apply
            if "protobuf" in request.headers.get("Accept", ""):
                return web.Response(body=discovery.openapi_v2_protobuf(), content_type=discovery.OPENAPI_V2_PROTOBUF)
            doc = discovery.openapi_v2()
        elif t.doc == "openapi/v3":
            doc = discovery.openapi_v3_index()
        elif t.doc == "openapi/v3/gv":
            doc = discovery.openapi_v3_group(t.group, t.version)
        else:
            doc = None
        if doc is None:
            raise NotFound("the server could not find the requested resource")
        return _json_response(doc)

    # -- resources ---------------------------------------------------------------------------

    async def _resource(self, t: Target, request: web.Request, user: User | None) -> web.StreamResponse:
        rt = t.rt
        assert rt is not None
        q = request.query
        method = request.method
        watch = t.legacy_watch or _truthy(q.get("watch"))
        field_selector = q.get("fieldSelector") or None
        if t.legacy_watch and t.name:
            field_selector = ",".join(filter(None, [f"metadata.name={t.name}", field_selector]))
        verb = {
            "GET": "watch" if watch else ("get" if t.name else "list"),
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if t.name else "deletecollection",
        }.get(method)
        if verb is None or (verb == "watch" and t.subresource):
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        if self.auth is not None:
            self.auth.authorize(user, verb, rt.name, rt.group, t.namespace, t.name)
        dry_run = q.get("dryRun") == "All"
        reg = self.registry
        if t.subresource == "log":
            if verb != "get":
                raise MethodNotAllowed("the server does not allow this method on the requested resource")
            return await self._pod_log(request, t)
        if verb == "watch":
            return await self._watch(request, rt, t, field_selector)
        if verb == "list":
            plain = not (q.get("labelSelector") or field_selector or q.get("limit") or q.get("continue"))
            if plain and not _wants_table(request):
                # the common unfiltered LIST: splice the stored bytes, no parse/serialise per object
                raw = reg.list_json(rt, t.namespace)
                if raw is not None:
                    return web.Response(body=raw, content_type=JSON)
            lst = reg.list(
                rt,
                t.namespace,
                label_selector=q.get("labelSelector") or None,
                field_selector=field_selector,
                limit=int(q["limit"]) if q.get("limit", "").isdigit() and int(q["limit"]) > 0 else None,
                continue_=q.get("continue") or None,
                resource_version=q.get("resourceVersion") or None,
            )
            if _wants_table(request):
                return _json_response(self._table(rt, lst["items"], lst["metadata"], request))
            return _json_response(lst)
        if verb == "get":
            obj = reg.get(rt, t.namespace, t.name or "", subresource=t.subresource)
            if _wants_table(request):
                return _json_response(self._table(rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, request))
            return _json_response(obj)
        if verb == "create":
            if t.name and t.subresource == "binding" and rt.name == "pods":
                return _json_response(reg.bind(t.namespace or "default", t.name, await self._body(request)), 201)
            if t.name:
                raise MethodNotAllowed("POST is not allowed on a named resource")
            body, warnings = self._fields(rt, await self._body(request), q)
            return _json_response(reg.create(rt, t.namespace, body, dry_run=dry_run), 201, warnings)
        if verb == "update":
            body, warnings = self._fields(rt, await self._body(request), q)
            return _json_response(reg.update(rt, t.namespace, t.name or "", body, subresource=t.subresource, dry_run=dry_run), 200, warnings)
        if verb == "patch":
            ctype = request.content_type
            if ctype == "application/apply-patch+yaml":
                raise UnsupportedMediaType("server-side apply is not supported by svcnet; use client-side apply")
            ptype = PATCH_TYPES.get(ctype)
            if ptype is None:
                raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}")
            try:
                patch = orjson.loads(await request.read() or b"null")
            except orjson.JSONDecodeError as e:  # a 400, not a 500
                raise BadRequest(f"the body of the request was in an unknown format: {e}") from None
            patch, warnings = self._fields(rt, patch, q, is_patch=True)
            return _json_response(reg.patch(rt, t.namespace, t.name or "", patch, patch_type=ptype, subresource=t.subresource, dry_run=dry_run), 200, warnings)
        if verb == "delete":
            opts = await self._delete_options(request)
            return _json_response(
                reg.delete(
                    rt,
                    t.namespace,
                    t.name or "",
                    grace_period_seconds=opts.get("gracePeriodSeconds"),
                    propagation_policy=opts.get("propagationPolicy"),
                    preconditions=opts.get("preconditions"),
                    dry_run=dry_run or opts.get("dryRun") == ["All"],
                )
            )
        # deletecollection
        lst = reg.list(rt, t.namespace, label_selector=q.get("labelSelector") or None, field_selector=field_selector)
        opts = await self._delete_options(request)
        for o in lst["items"]:
            try:
                reg.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"], grace_period_seconds=opts.get("gracePeriodSeconds"), dry_run=dry_run)
            except NotFound:
                pass
        return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    @staticmethod
    def _fields(rt: ResourceType, body: Any, q: Any, *, is_patch: bool = False) -> tuple[Any, list[str]]:
        """Unknown fields per ``?fieldValidation=`` (Strict: 400; Warn, the default: dropped
        with a Warning header; Ignore: dropped). See :mod:`svcnet.apiserver.fieldvalidation`."""
        try:
            directive = fieldvalidation.parse_directive(q.get("fieldValidation"))
        except ValueError as e:
            raise BadRequest(str(e)) from None
        if is_patch:
            body, warnings, err = fieldvalidation.check_patch(rt.name, body, directive)
        else:
            body, warnings, err = fieldvalidation.check_body(rt.name, rt.kind, rt.version, body, directive)
        if err is not None:
            raise BadRequest(err)
        return body, warnings

    async def _body(self, request: web.Request) -> dict:
        _check_json_body(request)
        raw = await request.read()
        try:
            if request.content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
                body = yaml.safe_load(raw)
            else:
                body = orjson.loads(raw)
        except Exception as e:
            raise BadRequest(f"the body of the request was in an unknown format: {e}") from None
        if not isinstance(body, dict):
            raise BadRequest("the body of the request must be a JSON object")
        return body

    async def _delete_options(self, request: web.Request) -> dict:
        q = request.query
        opts: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            _check_json_body(request)
            try:
                opts = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BadRequest("the body of the request was in an unknown format") from None
        if "gracePeriodSeconds" in q:
            try:
                opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise BadRequest("gracePeriodSeconds must be an integer") from None
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        return opts

    def _table(self, rt: ResourceType, items: list[dict], meta: dict, request: web.Request) -> dict:
        from svcnet.apiserver.tables import to_table

        try:
            return to_table(
                rt,
                items,
                resource_version=meta.get("resourceVersion", ""),
                continue_=meta.get("continue"),
                include_object=request.query.get("includeObject", "Metadata"),
            )
        except ValueError as e:  # a bad includeObject: 400 as upstream, not a 500
            raise BadRequest(str(e)) from None

    async def _watch(self, request: web.Request, rt: ResourceType, t: Target, field_selector: str | None) -> web.StreamResponse:
        q = request.query
        table = _wants_table(request)
        include_object = q.get("includeObject", "Metadata")
        if table and include_object not in ("Metadata", "Object", "None"):  # before a watch is opened
            raise BadRequest(f"unrecognized includeObject value: {include_object!r}")
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        try:
            rw = self.registry.watch(
                rt,
                t.namespace,
                resource_version=q.get("resourceVersion") or None,
                label_selector=q.get("labelSelector") or None,
                field_selector=field_selector,
                allow_bookmarks=_truthy(q.get("allowWatchBookmarks")),
            )
        except Expired as e:
            await resp.prepare(request)
            await resp.write(orjson.dumps({"type": "ERROR", "object": e.status}) + b"\n")
            await resp.write_eof()
            return resp
        timeout = None
        if q.get("timeoutSeconds", "").isdigit():
            timeout = int(q["timeoutSeconds"])
        shared = rw.matcher.everything and not table
        first_row = True
        await resp.prepare(request)
        self.active_watches += 1
        try:
            from svcnet.apiserver.tables import table_row_for_watch

            # everything queued at once goes out in one write (one TLS record, one chunk)
            async for batch in rw.batches(timeout):
                parts = []
                for rev, frame in batch:
                    if table and frame["type"] != "BOOKMARK":
                        # one-row Tables; column definitions only with the first, as
                        # upstream's watch encoder sends them
                        parts.append(orjson.dumps(table_row_for_watch(rt, frame, first=first_row, include_object=include_object)) + b"\n")
                        first_row = False
                    elif shared and frame["type"] != "BOOKMARK":
                        parts.append(self.frames.get(rev, frame, rt.name))
                    else:
                        parts.append(orjson.dumps(frame) + b"\n")
                await resp.write(parts[0] if len(parts) == 1 else b"".join(parts))
        except APIError as e:
            try:
                await resp.write(orjson.dumps({"type": "ERROR", "object": e.status}) + b"\n")
            except ConnectionResetError:
                pass
        except ConnectionResetError:
            pass
        finally:
            self.active_watches -= 1
            rw.close()
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp


def make_app(registry: Registry, *, auth: TokenAuth | None = None, server_address: str = "127.0.0.1:6443") -> web.Application:
    """The aiohttp application serving the Kubernetes API over ``registry``."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    handler = APIHandler(registry, auth, server_address)
    app[HANDLER] = handler
    app.on_cleanup.append(handler.close)
    # the bound coroutine method, not the instance: aiohttp deprecates non-coroutine handlers
    app.router.add_route("*", "/{tail:.*}", handler.__call__)
    return app
