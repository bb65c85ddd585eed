"""The registry: the API server's request pipeline over a store, without HTTP.

Theory of operation
-------------------
Every write any component makes passes through here, in process (``client.inprocess``) or over
HTTP (``apiserver.http``), so defaulting, validation, allocation and admission cannot be
bypassed. The order of operations follows the kube-apiserver's generic registry (see
``strategy.py`` for the per-resource hooks):

CREATE  namespace checks -> default -> generateName -> system metadata (uid, creationTimestamp,
        generation) -> prepare -> allocate (``begin_create``) -> validate -> store -> commit.
UPDATE  read current -> preconditions (resourceVersion, uid) -> default -> carry system metadata
        -> allocate (``begin_update``) -> prepare -> validate -> no-op check (nothing written if nothing changed)
        -> conditional store update (retried on a race when the request was unconditional).
PATCH   read current -> apply the patch (``patch.py``) -> UPDATE with the current version,
        retried on conflict.
DELETE  graceful for scheduled pods (``deletionTimestamp`` + grace; the kubelet deletes for
        good), finalizers hold objects, namespaces cascade, else store delete + ``after_delete``.

Writes are serialised by one lock: the allocators are in memory and must move in step with the
store. Reads go straight to the store.

Watches are filtered by namespace, label and field selectors (``watch.py``).
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from svcnet.api import defaults as api_defaults
from svcnet.api.errors import (
    BadRequest,
    Conflict,
    Expired,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    go_quote,
)
from svcnet.api.resources import RESOURCES, ResourceType, by_name
from svcnet.apiserver.patch import PatchError, apply_patch
from svcnet.apiserver.podlogs import log_location
from svcnet.apiserver.scale import apply_scale, scale_of
from svcnet.apiserver.services import kubernetes_service_ip
from svcnet.apiserver.strategies import default_strategies
from svcnet.apiserver.strategy import Strategy, Txn
from svcnet.apiserver.watch import Matcher, RegistryWatch
from svcnet.store.base import Store

__all__ = ["ClusterConfig", "Registry", "now_rfc3339"]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # upstream utilrand alphanumerics (no vowels)


def now_rfc3339(offset_seconds: float = 0) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterConfig:
    """What the API server is configured with (kube-apiserver flags)."""

    service_cidrs: tuple[str, ...] = ("10.96.0.0/12",)
    node_port_range: tuple[int, int] = (30000, 32767)
    #: where the API server itself listens; backs the default/kubernetes Service's endpoints
    api_endpoint: tuple[str, int] | None = None


# ---------------------------------------------------------------------------------------------
# helpers


def _md(obj: dict) -> dict:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    return md


def _json_copy(obj: Any) -> Any:
    """A deep copy of a request body (the caller's object is never modified). An orjson round
    trip is ~10x faster than ``copy.deepcopy`` on API objects, which made deepcopy a tenth of
    the control plane's time at 100,000 Pods (bench/controlplane.py); anything that is not
    plain JSON (a non-string key, an oversized int) takes the slow, exact way."""
    try:
        return orjson.loads(orjson.dumps(obj))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(obj)


def _without_rv(obj: dict) -> dict:
    o = copy.copy(obj)
    md = dict(o.get("metadata") or {})
    md.pop("resourceVersion", None)
    md.pop("managedFields", None)
    o["metadata"] = md
    return o


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _encode_continue(rv: int, after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(after)})).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        d = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(d["rv"]), (d["start"][0], d["start"][1])
    except Exception:
        raise BadRequest(f"continue key is not valid: {token}") from None


class Registry:
    """CRUD + watch over a store with the Kubernetes request pipeline."""

    def __init__(self, store: Store, config: ClusterConfig | None = None, *, strategies: dict[str, Strategy] | None = None):
        self.store = store
        self.config = config or ClusterConfig()
        self.strategies = strategies or default_strategies(self.config.service_cidrs, self.config.node_port_range)
        self._lock = threading.RLock()
        self._bootstrapped = False

    # -- start-up ----------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Repair allocators from stored objects and create the system namespaces and the
        ``default/kubernetes`` Service. Idempotent."""
        with self._lock:
            for name, strat in self.strategies.items():
                items, _ = self.store.list(name)
                strat.repair(items)
            for ns in SYSTEM_NAMESPACES:
                try:
                    self.store.get("namespaces", "", ns)
                except NotFound:
                    self.create(by_name("namespaces"), None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            self._ensure_kubernetes_service()
            self._bootstrapped = True

    def _ensure_kubernetes_service(self) -> None:
        rt = by_name("services")
        try:
            self.store.get("services", "default", "kubernetes")
        except NotFound:
            ip = kubernetes_service_ip(self.config.service_cidrs[0])
            self.create(
                rt,
                "default",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": "kubernetes",
                        "namespace": "default",
                        "labels": {"component": "apiserver", "provider": "kubernetes"},
                    },
                    "spec": {
                        "clusterIP": ip,
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                        "sessionAffinity": "None",
                        "type": "ClusterIP",
                    },
                },
            )
        ep = self.config.api_endpoint
        if ep is None:
            return
        host, port = ep
        slice_obj = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {
                    "kubernetes.io/service-name": "kubernetes",
                    "endpointslice.kubernetes.io/managed-by": "endpointslice.reconciler.svcnet.io",
                },
            },
            "addressType": "IPv6" if ":" in host else "IPv4",
            "endpoints": [{"addresses": [host], "conditions": {"ready": True, "serving": True, "terminating": False}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }
        rts = by_name("endpointslices")
        try:
            cur = self.store.get("endpointslices", "default", "kubernetes")
            if cur.get("endpoints") != slice_obj["endpoints"] or cur.get("ports") != slice_obj["ports"]:
                cur["endpoints"], cur["ports"] = slice_obj["endpoints"], slice_obj["ports"]
                self.update(rts, "default", "kubernetes", cur)
        except NotFound:
            self.create(rts, "default", slice_obj)

    # -- reads -------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str | None = None) -> dict:
        obj = self.store.get(rt.name, namespace or "" if rt.namespaced else "", name)
        if subresource == "scale" and "scale" in rt.subresources:
            return scale_of(obj)
        return self._with_type(rt, obj)

    def pod_log_location(self, namespace: str | None, name: str, container: str | None) -> tuple[str, int, str] | None:
        """Where the kubelet serves this pod's container log (``pods/log``; see podlogs)."""
        pod = self.store.get("pods", namespace or "default", name)
        node = None
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            try:
                node = self.store.get("nodes", "", node_name)
            except NotFound:
                pass
        return log_location(pod, node, container)

    def list(
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
        """A ``<Kind>List``. Paging with ``limit``/``continue`` pages through the current state
        in (namespace, name) order; unlike etcd it is not a snapshot of one revision (documented
        difference)."""
        matcher = Matcher(label_selector, field_selector)
        items, rev = self.store.list(rt.name, namespace if rt.namespaced else None)
        start: tuple[str, str] | None = None
        if continue_:
            crev, start = _decode_continue(continue_)
            if crev < self.store.oldest_revision():
                raise Expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                )
            rev = crev
        out: list[dict] = []
        more = False
        remaining = 0
        for obj in items:
            md = obj.get("metadata") or {}
            key = (md.get("namespace") or "", md.get("name") or "")
            if start is not None and key <= start:
                continue
            if not matcher(obj):
                continue
            if limit and len(out) >= limit:
                more = True
                remaining += 1
                continue
            out.append(obj)
        meta: dict[str, Any] = {"resourceVersion": str(rev)}
        if more:
            last = out[-1]["metadata"]
            meta["continue"] = _encode_continue(rev, (last.get("namespace") or "", last["name"]))
            if matcher.everything:
                meta["remainingItemCount"] = remaining
        for o in out:
            o.pop("apiVersion", None)
            o.pop("kind", None)
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": out}

    def list_json(self, rt: ResourceType, namespace: str | None = None) -> bytes | None:
        """The unfiltered, unpaged ``<Kind>List`` as JSON bytes spliced from the store's stored
        bytes (``list_raw``) without parsing and re-serialising every object - what LISTs of
        10,000 Services cost most. None when the store has no ``list_raw``. The items keep
        their ``apiVersion``/``kind`` (the dict path strips them, as upstream does); clients
        ignore them."""
        list_raw = getattr(self.store, "list_raw", None)
        if list_raw is None:
            return None
        raw, rev = list_raw(rt.name, namespace if rt.namespaced else None)
        head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": str(rev)}})
        return head[:-1] + b',"items":[' + b",".join(raw) + b"]}"

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = False,
    ) -> RegistryWatch:
        """Raises Expired when ``resource_version`` is older than the store's history."""
        matcher = Matcher(label_selector, field_selector)
        since: int | None
        if resource_version in (None, "", "0"):
            since = None
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise BadRequest(f"invalid resource version: {resource_version}") from None
        w = self.store.watch(rt.name, namespace if rt.namespaced else None, since)
        return RegistryWatch(self.store, rt, w, matcher, allow_bookmarks)

    # -- create ------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str | None, obj: dict, *, dry_run: bool = False) -> dict:
        obj = _json_copy(obj)
        self._check_type(rt, obj)
        md = _md(obj)
        if rt.namespaced:
            ns = namespace or md.get("namespace") or "default"
            if md.get("namespace") and md["namespace"] != ns:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if md.get("resourceVersion"):
            raise BadRequest("resourceVersion should not be set on objects to be created")
        strat = self.strategies[rt.name]
        with self._lock:
            if rt.namespaced:
                self._check_namespace(md["namespace"])
            api_defaults.apply_defaults(obj)
            if not md.get("name") and md.get("generateName"):
                md["name"] = md["generateName"] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
                md.pop(k, None)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            if strat.tracks_generation:
                md["generation"] = 1
            strat.prepare_for_create(obj)
            txn = strat.begin_create(obj, dry_run=dry_run)
            try:
                errs = strat.validate(obj)
                if errs:
                    raise Invalid(rt.kind, md.get("name") or "", errs, group=rt.group)
                if dry_run:
                    txn.revert()
                    return obj
                if md.get("name"):
                    stored = self.store.create(rt.name, obj)
                else:  # validation reports the missing name; never store a nameless object
                    raise Invalid(rt.kind, "", [FieldError("Required", "metadata.name", detail="name or generateName is required")], group=rt.group)
            except BaseException:
                txn.revert()
                raise
            txn.commit()
            return stored

    def bind(self, namespace: str, name: str, binding: dict) -> dict:
        """``POST pods/<name>/binding``: set a pod's node once (upstream BindingREST)."""
        target = (binding or {}).get("target") or {}
        node = target.get("name")
        if not node or target.get("kind", "Node") != "Node":
            raise BadRequest("a binding needs target.kind Node and target.name")
        with self._lock:
            pod = self.store.get("pods", namespace, name)
            md = pod["metadata"]
            if md.get("deletionTimestamp"):
                raise Conflict(f"pod {name} is being deleted, cannot be assigned to a host")
            cur = (pod.get("spec") or {}).get("nodeName")
            if cur:
                raise Conflict(f"pod {name} is already assigned to node {go_quote(cur)}")
            pod.setdefault("spec", {})["nodeName"] = node
            conds = [c for c in (pod.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()})
            pod["status"]["conditions"] = conds
            self.store.update("pods", pod)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    # -- update ------------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        obj = _json_copy(obj)
        if subresource == "scale" and "scale" in rt.subresources:
            return self._update_scale(rt, namespace, name, lambda _current: obj, dry_run=dry_run)
        self._check_type(rt, obj)
        md = _md(obj)
        ns = (namespace or md.get("namespace") or "default") if rt.namespaced else ""
        if md.get("name") and md["name"] != name:
            raise BadRequest(f"the name of the object ({md['name']}) does not match the name on the URL ({name})")
        if rt.namespaced and md.get("namespace") and md["namespace"] != ns:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        md["name"] = name
        if rt.namespaced:
            md["namespace"] = ns
        with self._lock:
            try:
                old = self.store.get(rt.name, ns, name)
            except NotFound:
                if self.strategies[rt.name].allow_create_on_update and subresource is None:
                    md.pop("resourceVersion", None)
                    return self.create(rt, ns or None, obj, dry_run=dry_run)
                raise
            return self._update_locked(rt, old, obj, subresource=subresource, dry_run=dry_run)

    def _update_locked(self, rt: ResourceType, old: dict, obj: dict, *, subresource: str | None, dry_run: bool) -> dict:
        strat = self.strategies[rt.name]
        md = _md(obj)
        omd = old["metadata"]
        want_rv = md.get("resourceVersion")
        if want_rv and str(want_rv) != str(omd.get("resourceVersion")):
            raise Conflict.stale(rt.name, omd["name"], rt.group)
        if md.get("uid") and md["uid"] != omd.get("uid"):
            raise Conflict(
                f"Precondition failed: UID in precondition: {md['uid']}, UID in object meta: {omd.get('uid')}"
            )
        if subresource == "status":
            strat.prepare_for_status_update(obj, old)
            md = _md(obj)
            errs = strat.validate_status_update(obj, old)
            txn: Txn | None = None
        elif subresource is not None:
            raise NotFound(f"the server could not find the requested resource ({subresource})")
        else:
            api_defaults.apply_defaults(obj)
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            # upstream genericregistry Store.Update calls BeginUpdate (patchAllocatedValues,
            # normalizeClusterIPs, allocation) *before* rest.BeforeUpdate (PrepareForUpdate:
            # dropTypeDependentFields). The order matters: a client re-sending only the old
            # clusterIP while converting to ExternalName gets clusterIPs filled in by the
            # normalisation, so the strategy then sees the IPs unchanged and wipes them
            # (service-api.md 7.25 "re-sending the old clusterIP"); the other way round the
            # request fails with "spec.clusterIPs: Forbidden".
            # staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go (Store.Update)
            txn = strat.begin_update(obj, old, dry_run=dry_run)
            try:
                strat.prepare_for_update(obj, old)
                errs = strat.validate_update(obj, old)
            except BaseException:
                txn.revert()
                raise
        if errs:
            if txn is not None:
                txn.revert()
            raise Invalid(rt.kind, omd["name"], errs, group=rt.group)
        if strat.tracks_generation and subresource is None and _spec_part(obj) != _spec_part(old):
            md["generation"] = int(omd.get("generation") or 1) + 1
        md["resourceVersion"] = omd.get("resourceVersion")
        if _without_rv(obj) == _without_rv(old):
            if txn is not None:
                txn.revert()
            return self._with_type(rt, old)
        if dry_run:
            if txn is not None:
                txn.revert()
            return obj
        try:
            stored = self.store.update(rt.name, obj)
        except BaseException:
            if txn is not None:
                txn.revert()
            raise
        if txn is not None:
            txn.commit()
        self._after_write(rt, stored)
        return stored

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        ns = (namespace or "default") if rt.namespaced else ""
        if subresource == "scale" and "scale" in rt.subresources:
            # the patch applies to the Scale, not to the object (kubectl scale)
            def patched(current: dict) -> dict:
                try:
                    return apply_patch(current, patch, patch_type, "Scale")
                except PatchError as e:
                    raise Invalid("Scale", name, [FieldError("Invalid", "patch", detail=str(e), rendered=str(e))], group="autoscaling") from None

            return self._update_scale(rt, ns, name, patched, dry_run=dry_run)
        for _attempt in range(5):
            with self._lock:
                old = self.store.get(rt.name, ns, name)
                try:
                    new = apply_patch(old, patch, patch_type, rt.kind)
                except PatchError as e:
                    raise Invalid(rt.kind, name, [FieldError("Invalid", "patch", detail=str(e), rendered=str(e))], group=rt.group) from None
                if not isinstance(new, dict):
                    raise BadRequest("the patch did not produce an object")
                nmd = _md(new)
                if nmd.get("name") not in (None, name):
                    raise BadRequest("the name of the object cannot be changed by a patch")
                if not nmd.get("resourceVersion") or (isinstance(patch, dict) and not (patch.get("metadata") or {}).get("resourceVersion")):
                    nmd["resourceVersion"] = old["metadata"]["resourceVersion"]
                nmd["name"] = name
                if rt.namespaced:
                    nmd["namespace"] = ns
                try:
                    return self._update_locked(rt, old, new, subresource=subresource, dry_run=dry_run)
                except Conflict:
                    if isinstance(patch, dict) and (patch.get("metadata") or {}).get("resourceVersion"):
                        raise
                    continue
        raise Conflict.stale(rt.name, name, rt.group)

    def _update_scale(self, rt: ResourceType, namespace: str | None, name: str, new_scale, *, dry_run: bool) -> dict:
        """Write the replicas of ``new_scale(current Scale)`` into the object (a spec update:
        validated, generation bumped); returns the resulting Scale."""
        ns = (namespace or "default") if rt.namespaced else ""
        with self._lock:
            old = self.store.get(rt.name, ns, name)
            obj = apply_scale(old, new_scale(scale_of(old)))
            if not obj["metadata"].get("resourceVersion"):
                obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return scale_of(self._update_locked(rt, old, _json_copy(obj), subresource=None, dry_run=dry_run))

    # -- delete ------------------------------------------------------------------------------

    def delete(
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
        ns = (namespace or "default") if rt.namespaced else ""
        with self._lock:
            obj = self.store.get(rt.name, ns, name)
            md = obj["metadata"]
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise Conflict(f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {md.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
                raise Conflict.stale(rt.name, name, rt.group)
            if dry_run:
                return self._with_type(rt, obj)
            if rt.name == "namespaces":
                return self._delete_namespace(obj)
            grace = self._graceful_period(rt, obj, grace_period_seconds)
            if grace is not None and grace < 0:
                return self._with_type(rt, obj)  # already terminating with a shorter grace period
            if grace is not None and grace > 0:
                return self._mark_deleting(rt, obj, grace)
            if md.get("finalizers"):
                return self._mark_deleting(rt, obj, 0)
            return self._delete_now(rt, obj)

    def _graceful_period(self, rt: ResourceType, obj: dict, requested: int | None) -> int | None:
        """Pods only (upstream podStrategy.CheckGracefulDelete): unscheduled or finished pods
        go at once; a second delete may only shorten the grace period."""
        if rt.name != "pods":
            return None
        spec = obj.get("spec") or {}
        grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
        if grace is None or grace < 0:
            grace = 30
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return 0
        md = obj["metadata"]
        cur = md.get("deletionGracePeriodSeconds")
        if md.get("deletionTimestamp") and cur is not None and grace >= cur:
            return -1  # already terminating with a grace period at least as short: nothing to do
        return grace

    def _mark_deleting(self, rt: ResourceType, obj: dict, grace: int) -> dict:
        md = obj["metadata"]
        md["deletionTimestamp"] = now_rfc3339(grace)
        md["deletionGracePeriodSeconds"] = grace
        stored = self.store.update(rt.name, obj)
        return stored

    def _delete_now(self, rt: ResourceType, obj: dict) -> dict:
        md = obj["metadata"]
        deleted = self.store.delete(rt.name, md.get("namespace") or "", md["name"], expect_rv=md.get("resourceVersion"))
        self.strategies[rt.name].after_delete(deleted)
        if rt.namespaced:
            self._maybe_finish_namespace(md.get("namespace") or "")
        return self._with_type(rt, deleted)

    def _delete_namespace(self, ns_obj: dict) -> dict:
        """Mark the namespace Terminating, delete what it holds (pods gracefully), and remove it
        once it is empty (the last final pod deletion finishes it)."""
        name = ns_obj["metadata"]["name"]
        if name in SYSTEM_NAMESPACES:
            raise Forbidden(f'namespaces {go_quote(name)} is forbidden: this namespace may not be deleted')
        if (ns_obj.get("status") or {}).get("phase") != "Terminating":
            ns_obj.setdefault("status", {})["phase"] = "Terminating"
            ns_obj["metadata"]["deletionTimestamp"] = now_rfc3339()
            ns_obj = self.store.update("namespaces", ns_obj)
        for rt in RESOURCES:
            if not rt.namespaced:
                continue
            items, _ = self.store.list(rt.name, name)
            for o in items:
                try:
                    self.delete(rt, name, o["metadata"]["name"])
                except NotFound:
                    pass
        self._maybe_finish_namespace(name)
        try:
            return self._with_type(by_name("namespaces"), self.store.get("namespaces", "", name))
        except NotFound:
            return self._with_type(by_name("namespaces"), ns_obj)

    def _maybe_finish_namespace(self, name: str) -> None:
        try:
            ns = self.store.get("namespaces", "", name)
        except NotFound:
            return
        if (ns.get("status") or {}).get("phase") != "Terminating":
            return
        for rt in RESOURCES:
            if rt.namespaced and self.store.list(rt.name, name)[0]:
                return
        self.store.delete("namespaces", "", name)

    def _after_write(self, rt: ResourceType, stored: dict) -> None:
        """An update that removed the last finalizer of a deleting object deletes it."""
        md = stored.get("metadata") or {}
        if md.get("deletionTimestamp") and not md.get("finalizers") and rt.name != "pods" and rt.name != "namespaces":
            self._delete_now(rt, stored)

    # -- checks ------------------------------------------------------------------------------

    def _check_type(self, rt: ResourceType, obj: dict) -> None:
        if not isinstance(obj, dict):
            raise BadRequest("the body of the request was in an unknown format")
        kind = obj.get("kind")
        av = obj.get("apiVersion")
        if kind and kind != rt.kind:
            raise BadRequest(f"the kind of the object ({kind}) does not match the resource ({rt.kind})")
        if av and av != rt.api_version:
            raise BadRequest(f"the API version in the data ({av}) does not match the expected API version ({rt.api_version})")
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version

    def _check_namespace(self, ns: str) -> None:
        try:
            nso = self.store.get("namespaces", "", ns)
        except NotFound:
            raise NotFound.of("namespaces", ns) from None
        if (nso.get("status") or {}).get("phase") == "Terminating":
            raise Forbidden(f"unable to create new content in namespace {ns} because it is being terminated")

    @staticmethod
    def _with_type(rt: ResourceType, obj: dict) -> dict:
        obj.setdefault("kind", rt.kind)
        obj.setdefault("apiVersion", rt.api_version)
        return obj
