"""ObjectMeta validation on create and update.

Theory of operation
-------------------
``validate_object_meta`` mirrors ``ValidateObjectMeta`` (apimachinery objectmeta.go plus the core
finalizer check), in upstream order:

1. ``generateName``, if set, against the kind's name function in *prefix* mode (a trailing ``-``
   is fine); then ``name``: missing gives ``metadata.name: Required value: name or generateName is
   required``, otherwise every message of the name function is one ``Invalid`` error.
2. Namespace: namespaced kinds need one (``Required value``) that is a DNS-1123 label; a
   cluster-scoped object with a namespace gets ``Forbidden: not allowed on this type`` (the API
   server clears it before validating, so only direct callers see that).
3. ``generation`` >= 0, labels, annotations, ownerReferences, finalizers.

Labels and annotations report at the map's path (``metadata.labels``), never ``[key]``.

``validate_object_meta_update`` mirrors ``ValidateObjectMetaUpdate`` for the fields that cannot
change: ``name``, ``namespace``, ``uid``, ``creationTimestamp`` (``Invalid value: <new>: field is
immutable``). The API server's ``BeforeUpdate`` copies ``uid`` (when empty), ``generation`` and
``creationTimestamp`` from the stored object before validating; here an *absent* value counts as
"unchanged", so a caller that skips that step still gets upstream behaviour. The
``resourceVersion`` "must be specified for an update" check is left to the registry, which fills
the stored version in for unconditional updates before validation.

Upstream: staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go,
pkg/apis/core/validation/validation.go (ValidateObjectMeta, validateKubeFinalizerName).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from svcnet.api.errors import FieldError, GoRepr, forbidden, invalid, required
from svcnet.api.validation.common import (
    child,
    index,
    is_dns1123_label,
    is_qualified_name,
    validate_annotations,
    validate_labels,
    validate_nonnegative,
)

__all__ = [
    "NameFunc",
    "STANDARD_FINALIZERS",
    "go_time_repr",
    "validate_object_meta",
    "validate_object_meta_update",
]

#: ``(name, prefix) -> messages``
NameFunc = Callable[[str, bool], list[str]]

#: finalizer names without a "/" that core accepts (helper.IsStandardFinalizerName)
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def _namespace_name(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_label(name)


def validate_object_meta(
    meta: Any,
    *,
    namespaced: bool,
    name_fn: NameFunc,
    path: str = "metadata",
) -> list[FieldError]:
    """Validate ``metadata`` of an object being created (name generation already done)."""
    if not isinstance(meta, dict):
        meta = {}
    errs: list[FieldError] = []
    gen = meta.get("generateName") or ""
    if gen:
        errs.extend(invalid(child(path, "generateName"), gen, m) for m in name_fn(gen, True))
    name = meta.get("name") or ""
    if not name:
        errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs.extend(invalid(child(path, "name"), name, m) for m in name_fn(name, False))

    ns = meta.get("namespace") or ""
    if namespaced:
        if not ns:
            errs.append(required(child(path, "namespace")))
        else:
            errs.extend(invalid(child(path, "namespace"), ns, m) for m in _namespace_name(ns))
    elif ns:
        errs.append(forbidden(child(path, "namespace"), "not allowed on this type"))

    errs.extend(validate_nonnegative(meta.get("generation", 0), child(path, "generation")))
    errs.extend(validate_labels(meta.get("labels"), child(path, "labels")))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    errs.extend(_validate_owner_references(meta.get("ownerReferences"), child(path, "ownerReferences")))
    errs.extend(_validate_finalizers(meta.get("finalizers"), child(path, "finalizers")))
    return errs


def _validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs or []:
        if not isinstance(ref, dict):
            continue
        api_version = ref.get("apiVersion", "") or ""
        version = api_version.rsplit("/", 1)[-1] if api_version else ""
        if not version:
            errs.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        if not ref.get("kind"):
            errs.append(invalid(child(path, "kind"), ref.get("kind", ""), "must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(child(path, "name"), ref.get("name", ""), "must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(child(path, "uid"), ref.get("uid", ""), "must not be empty"))
        if api_version == "v1" and ref.get("kind") == "Event":
            errs.append(invalid(path, GoRepr(repr(ref)), "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            cur = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        GoRepr("[]v1.OwnerReference{...}"),
                        'Only one reference can have Controller set to true. Found "true" in references '
                        f"for {first_controller} and {cur}",
                    )
                )
            else:
                first_controller = cur
    return errs


def _validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    fins = [f for f in (finalizers or []) if isinstance(f, str)]
    for f in fins:
        errs.extend(invalid(path, f, m) for m in is_qualified_name(f))
    if "orphan" in fins and "foregroundDeletion" in fins:
        errs.append(
            invalid(
                path,
                GoRepr("[]string{" + ", ".join(f'"{f}"' for f in fins) + "}"),
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
        )
    # core's extra check: names without a "/" must be standard ones
    for i, f in enumerate(fins):
        if "/" not in f and f not in STANDARD_FINALIZERS:
            errs.append(
                invalid(index(path, i), f, "name is neither a standard finalizer name nor is it fully qualified")
            )
    return errs


_RE_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})"
)


def go_time_repr(value: Any) -> GoRepr:
    """A metav1.Time bad value as Go prints it (``time.Time.String()``)."""
    if not value:
        return GoRepr("0001-01-01 00:00:00 +0000 UTC")
    m = _RE_RFC3339.fullmatch(str(value))
    if not m:
        return GoRepr(str(value))
    y, mo, d, h, mi, s, frac, tz = m.groups()
    frac = (frac or "").rstrip("0").rstrip(".") if frac else ""
    if tz in ("Z", "z"):
        zone = "+0000 UTC"
    else:
        zone = tz.replace(":", "") + " " + tz.replace(":", "")
    return GoRepr(f"{y}-{mo}-{d} {h}:{mi}:{s}{frac} {zone}")


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[FieldError]:
    """Immutable metadata fields on update (name, namespace, uid, creationTimestamp), then
    labels and annotations of the new object."""
    new = new if isinstance(new, dict) else {}
    old = old if isinstance(old, dict) else {}
    errs: list[FieldError] = []
    # BeforeUpdate resets generation to the stored one; only an explicit smaller value is an error
    if "generation" in new and (new.get("generation") or 0) < (old.get("generation") or 0):
        errs.append(invalid(child(path, "generation"), new.get("generation") or 0, "must not be decremented"))
    for field in ("name", "namespace"):
        nv, ov = new.get(field) or "", old.get(field) or ""
        if nv != ov:
            errs.append(invalid(child(path, field), nv, "field is immutable"))
    # BeforeUpdate: an empty uid / creationTimestamp means "keep the stored one"
    nu, ou = new.get("uid") or "", old.get("uid") or ""
    if nu and nu != ou:
        errs.append(invalid(child(path, "uid"), nu, "field is immutable"))
    nt, ot = new.get("creationTimestamp"), old.get("creationTimestamp")
    if nt and ot and nt != ot:
        errs.append(invalid(child(path, "creationTimestamp"), go_time_repr(nt), "field is immutable"))
    errs.extend(validate_labels(new.get("labels"), child(path, "labels")))
    errs.extend(validate_annotations(new.get("annotations"), child(path, "annotations")))
    errs.extend(_validate_owner_references(new.get("ownerReferences"), child(path, "ownerReferences")))
    errs.extend(_validate_finalizers(new.get("finalizers"), child(path, "finalizers")))
    return errs
