"""The three patch formats a kube-apiserver accepts: JSON merge patch, JSON patch, and the
strategic merge patch that ``kubectl apply``/``kubectl edit`` send.

Theory of operation
-------------------
Each ``apply_*`` function is pure: ``(original object, patch) -> new object``; it never mutates
its inputs and raises :class:`PatchError` (mapped to HTTP 422/400 by the caller) on a patch that
cannot apply.

- JSON merge patch (RFC 7386): maps merge recursively, ``null`` deletes, everything else
  (lists included) replaces.
- JSON patch (RFC 6902): add/remove/replace/move/copy/test over JSON pointers (RFC 6901).
- Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch): like a merge patch, but
  lists that the Go types tag ``patchStrategy:"merge"`` merge element-wise by their
  ``patchMergeKey`` (containers by ``name``, Service ports by ``port``, container ports by
  ``containerPort``, conditions by ``type``...; :data:`MERGE_KEYS`), and the directives kubectl
  emits are honoured: ``$patch: replace|delete|merge``, ``$setElementOrder/<list>``,
  ``$deleteFromPrimitiveList/<list>``, ``$retainKeys``. Lists without a strategy replace.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

__all__ = [
    "MERGE_KEYS",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
]


class PatchError(ValueError):
    """A patch that is malformed or does not apply to the object."""


# ---------------------------------------------------------------------------------------------
# RFC 7386


def _copy(value: Any) -> Any:
    """A deep copy of JSON data: an orjson round trip (~10x faster than ``copy.deepcopy``),
    falling back to deepcopy for anything that is not plain JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)


def apply_merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return _copy(patch)
    # copy the original once and merge into the copy (copying again at every level of the
    # recursion made each PATCH deep-copy the object once per nesting level)
    result = _copy(original) if isinstance(original, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(target: dict, patch: dict) -> None:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict):
            cur = target.get(k)
            if not isinstance(cur, dict):
                cur = target[k] = {}
            _merge_into(cur, v)
        else:
            target[k] = _copy(v)


# ---------------------------------------------------------------------------------------------
# RFC 6902


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"path not found: /{'/'.join(parts)}")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError(f"path not found: /{'/'.join(parts)}") from None
        else:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
    return cur


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError(f"invalid array index {last!r}") from None
            if i < 0 or i > len(parent):
                raise PatchError(f"array index {i} out of bounds")
            parent.insert(i, value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise PatchError(f"path not found: /{'/'.join(parts)}") from None
    raise PatchError("cannot remove from a scalar")


def apply_json_patch(original: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(original)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)  # must exist
            if not parts:
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                _remove(doc, src)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"test operation failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


# ---------------------------------------------------------------------------------------------
# Strategic merge patch

#: list field -> merge key, by the field's parent context. A key ``("*", "containers")`` means
#: "a field named containers anywhere"; a more specific ``(parent, field)`` wins.
MERGE_KEYS: dict[tuple[str, str], str] = {
    ("*", "containers"): "name",
    ("*", "initContainers"): "name",
    ("*", "ephemeralContainers"): "name",
    ("*", "env"): "name",
    ("*", "volumeMounts"): "mountPath",
    ("*", "volumeDevices"): "devicePath",
    ("*", "volumes"): "name",
    ("*", "imagePullSecrets"): "name",
    ("*", "hostAliases"): "ip",
    ("*", "conditions"): "type",
    ("*", "ownerReferences"): "uid",
    ("*", "topologySpreadConstraints"): "topologyKey",
    ("*", "resourceClaims"): "name",
    ("containers", "ports"): "containerPort",
    ("initContainers", "ports"): "containerPort",
    ("ephemeralContainers", "ports"): "containerPort",
    ("ServiceSpec", "ports"): "port",
    ("NodeStatus", "addresses"): "type",
}

#: primitive lists that merge as sets (patchStrategy merge without a key)
MERGE_PRIMITIVE_LISTS = {"finalizers"}


def _merge_key(context: tuple[str, ...], field: str) -> str | None:
    parent = context[-1] if context else ""
    return MERGE_KEYS.get((parent, field)) or MERGE_KEYS.get(("*", field))


def apply_strategic_merge_patch(original: dict, patch: dict, kind: str = "") -> dict:
    """Apply a strategic merge patch to an object of ``kind`` (used to tell Service ports from
    container ports)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _smp_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch, (kind or "",))


def _context_name(context: tuple[str, ...], field: str) -> str:
    # Name the struct a map field leads into, where it matters for merge keys.
    if field == "spec" and context == ("Service",):
        return "ServiceSpec"
    if field == "status" and context == ("Node",):
        return "NodeStatus"
    return field


def _smp_map(orig: dict, patch: dict, context: tuple[str, ...]) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    retain = patch.get("$retainKeys")
    orders: dict[str, list] = {}
    deletes: dict[str, list] = {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v or []
        elif k.startswith("$deleteFromPrimitiveList/"):
            deletes[k.split("/", 1)[1]] = v or []
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            orig.pop(k, None)
            continue
        cur = orig.get(k)
        sub = context + (_context_name(context, k),)
        if isinstance(v, dict):
            if v.get("$patch") == "delete":
                orig.pop(k, None)
                continue
            orig[k] = _smp_map(cur if isinstance(cur, dict) else {}, v, sub)
        elif isinstance(v, list):
            orig[k] = _smp_list(cur if isinstance(cur, list) else [], v, context, k)
        else:
            orig[k] = copy.deepcopy(v)
    for k, vals in deletes.items():
        if isinstance(orig.get(k), list):
            orig[k] = [x for x in orig[k] if x not in vals]
    for k, order in orders.items():
        if isinstance(orig.get(k), list):
            orig[k] = _apply_order(orig[k], order, _merge_key(context, k))
    if retain is not None:
        keep = set(retain)
        for k in list(orig):
            if k not in keep:
                del orig[k]
    return orig


def _smp_list(orig: list, patch: list, context: tuple[str, ...], field: str) -> list:
    key = _merge_key(context, field)
    sub = context + (field,)
    if key is None:
        if field in MERGE_PRIMITIVE_LISTS:
            out = list(orig)
            for x in patch:
                if x not in out:
                    out.append(copy.deepcopy(x))
            return out
        # no strategy: a list patch replaces, except an explicit {$patch: replace} marker item
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and x.get("$patch"))]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    out = [copy.deepcopy(x) for x in orig]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"list {field} merges by {key!r} but got a non-object item")
        if key not in item:
            raise PatchError(f"map in list {field} is missing its merge key {key!r}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_smp_map({}, item, sub))
        else:
            out[idx] = _smp_map(out[idx], item, sub)
    return out


def _apply_order(items: list, order: list, key: str | None) -> list:
    """``$setElementOrder``: items named in ``order`` come first in that order; others follow."""
    if key is None:
        rank = {repr(v): i for i, v in enumerate(order)}
        return sorted(items, key=lambda x: rank.get(repr(x), len(rank)))
    wanted = [o.get(key) for o in order if isinstance(o, dict)]
    rank = {v: i for i, v in enumerate(wanted)}
    return sorted(items, key=lambda x: rank.get(x.get(key) if isinstance(x, dict) else None, len(rank)))


def apply_patch(original: dict, patch: Any, patch_type: str, kind: str = "") -> dict:
    """Dispatch on ``patch_type``: ``merge``, ``json`` or ``strategic``."""
    if patch_type == "merge":
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be a JSON object")
        return apply_merge_patch(original, patch)
    if patch_type == "json":
        return apply_json_patch(original, patch)
    if patch_type == "strategic":
        return apply_strategic_merge_patch(original, patch, kind)
    raise PatchError(f"unsupported patch type {patch_type!r}")
