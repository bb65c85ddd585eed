"""The ``scale`` subresource of Deployments and ReplicaSets (``autoscaling/v1`` Scale).

What ``kubectl scale`` talks to: GET returns a Scale built from the object; PUT and PATCH (the
patch applies to the Scale, not to the object) change only ``spec.replicas``. As upstream
(``pkg/registry/apps/deployment/storage``'s ScaleREST): the Scale carries the object's name,
namespace, uid, resourceVersion and creationTimestamp; ``status.selector`` is the object's
label selector as a string; a resourceVersion in the Scale is a precondition on the object.
Pure functions; the registry does the I/O.
"""

from __future__ import annotations

from svcnet.api.errors import BadRequest, FieldError, Invalid

__all__ = ["SCALE_API_VERSION", "apply_scale", "scale_of"]

SCALE_API_VERSION = "autoscaling/v1"


def _selector_string(sel: dict | None) -> str:
    """``metav1.LabelSelectorAsSelector(sel).String()``: requirements sorted by key, ``""`` for
    an empty selector."""
    sel = sel or {}
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        key, op, values = e.get("key", ""), e.get("operator", ""), sorted(e.get("values") or [])
        if op == "In":
            reqs.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
    return ",".join(text for _key, text in sorted(reqs))


def scale_of(obj: dict) -> dict:
    """The Scale view of a Deployment or ReplicaSet."""
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    smd = {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md}
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": smd,
        "spec": {"replicas": int(spec.get("replicas", 1) or 0)},
        "status": {"replicas": int(status.get("replicas") or 0), "selector": _selector_string(spec.get("selector"))},
    }


def apply_scale(obj: dict, scale: dict) -> dict:
    """``obj`` with the replicas of ``scale`` (a copy); the Scale's resourceVersion, when set,
    becomes the object's (the registry checks it). Raises BadRequest or Invalid as upstream."""
    if not isinstance(scale, dict):
        raise BadRequest("the body of the request was in an unknown format")
    kind, av = scale.get("kind"), scale.get("apiVersion")
    if kind and kind != "Scale":
        raise BadRequest(f"the kind of the object ({kind}) does not match the resource (Scale)")
    if av and av != SCALE_API_VERSION:
        raise BadRequest(f"the API version in the data ({av}) does not match the expected API version ({SCALE_API_VERSION})")
    name = (obj.get("metadata") or {}).get("name", "")
    smd = scale.get("metadata") or {}
    if smd.get("name") not in (None, "", name):
        raise BadRequest(f"the name of the object ({smd['name']}) does not match the name on the URL ({name})")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise BadRequest(f"spec.replicas: expected an integer, got {replicas!r}")
    if replicas < 0:
        raise Invalid(
            "Scale", name,
            [FieldError("Invalid", "spec.replicas", replicas, "must be greater than or equal to 0")],
            group="autoscaling",
        )
    new = {**obj, "metadata": dict(obj.get("metadata") or {}), "spec": {**(obj.get("spec") or {}), "replicas": replicas}}
    if smd.get("resourceVersion"):
        new["metadata"]["resourceVersion"] = smd["resourceVersion"]
    else:
        new["metadata"].pop("resourceVersion", None)
    return new
