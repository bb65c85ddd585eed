"""``svcnet apply -f``: kubectl's client-side apply (last-applied annotation + three-way merge).

Theory of operation
-------------------
Per object of the manifests (k8s.io/kubectl/pkg/cmd/apply/apply.go ``applyOneObject``):

1. The object gets its namespace (its own, else ``-n``, else the default) and the annotation
   ``kubectl.kubernetes.io/last-applied-configuration``, whose value is the object itself -
   annotations included but without that annotation (``"annotations":{}`` when none are left)
   - as compact JSON with sorted keys and Go's HTML-safe escapes, plus a newline
   (:func:`last_applied_configuration`; ``util.GetModifiedConfiguration``).
2. GET the live object. Missing -> CREATE the annotated object: ``service/web created``.
3. Present -> the strategic three-way merge patch (:func:`three_way_merge_patch`,
   ``strategicpatch.CreateThreeWayMergePatch``) of *original* (the live object's last-applied
   annotation), *modified* (the annotated manifest) and *current* (the live object):

   - delta = current -> modified, ignoring deletions: every field the manifest sets to a value
     the live object does not have;
   - deletions = original -> modified, ignoring changes: every field applied last time and
     missing now (``null``; a removed item of a keyed list becomes
     ``{"$patch": "delete", <key>: <value>}``; a removed value of a set-like primitive list goes
     into ``$deleteFromPrimitiveList/<field>``);
   - keyed lists (:data:`svcnet.apiserver.patch.MERGE_KEYS`: Service ports by ``port``,
     containers by ``name``...) are diffed item by item and carry
     ``$setElementOrder/<field>`` (the manifest's order of keys) when they changed; other lists
     are replaced whole; maps recurse;
   - the patch is the deletions merged with the delta. ``{}`` -> ``service/web unchanged``;
     otherwise it is sent as a strategic merge patch -> ``service/web configured``.

   A live object without the annotation gets kubectl's warning on stderr and the annotation.
4. ``--dry-run=client`` prints ``created (dry run)``/``configured (dry run)`` and sends
   nothing; ``--dry-run=server`` sends the requests with ``dryRun`` and says
   ``(server dry run)``.

Each object is applied or rejected whole (the API server validates before storing); after an
error apply goes on with the next object, prints every error at the end as kubectl does
(``error when creating "x.yaml": ...`` wording, one error through kubectl's ``CheckErr``,
several one per line) and exits 1.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any, TextIO

import typer

from svcnet.api.errors import NotFound, SvcnetError
from svcnet.api.resources import ResourceType
from svcnet.apiserver.patch import MERGE_KEYS, MERGE_PRIMITIVE_LISTS
from svcnet.cli.cmdutil import CommandError, add_source_to_error, emit, read_objects, run_command
from svcnet.cli.printers import format_errors, qualified_name
from svcnet.client.base import Client

__all__ = [
    "LAST_APPLIED",
    "go_json",
    "last_applied_configuration",
    "register",
    "run_apply",
    "three_way_merge_patch",
    "with_last_applied",
]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

_WARNING_NO_ANNOTATION = (
    "Warning: resource {name} is missing the {ann} annotation which is required by {cmd} apply. "
    "{cmd} apply should only be used on resources created declaratively by either {cmd} create "
    "--save-config or {cmd} apply. The missing annotation will be patched automatically.\n"
)


# --------------------------------------------------------------------------------------------
# the last-applied annotation


def go_json(obj: Any) -> str:
    """Go ``json.Marshal`` of an unstructured object: compact, keys sorted, ``<>&`` escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def last_applied_configuration(obj: dict) -> str:
    """The annotation value kubectl writes for ``obj``: the object without the annotation
    (but with ``annotations: {}`` left when it had no others), as JSON + newline."""
    o = copy.deepcopy(obj)
    md = o.setdefault("metadata", {})
    ann = dict(md.get("annotations") or {})
    ann.pop(LAST_APPLIED, None)
    md["annotations"] = ann
    return go_json(o) + "\n"


def with_last_applied(obj: dict) -> dict:
    """``obj`` carrying its last-applied annotation (kubectl's *modified* configuration)."""
    value = last_applied_configuration(obj)
    o = copy.deepcopy(obj)
    md = o.setdefault("metadata", {})
    ann = dict(md.get("annotations") or {})
    ann[LAST_APPLIED] = value
    md["annotations"] = ann
    return o


# --------------------------------------------------------------------------------------------
# strategic three-way merge patch (k8s.io/apimachinery/pkg/util/strategicpatch/patch.go)


def _ctx_name(context: tuple[str, ...], field: str) -> str:
    # the struct a map field leads into, where list merge keys depend on it (as patch.py)
    if field == "spec" and context == ("Service",):
        return "ServiceSpec"
    if field == "status" and context == ("Node",):
        return "NodeStatus"
    return field


def _merge_key(context: tuple[str, ...], field: str) -> str | None:
    parent = context[-1] if context else ""
    return MERGE_KEYS.get((parent, field)) or MERGE_KEYS.get(("*", field))


def _same_type(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return isinstance(a, int) == isinstance(b, int)
    return type(a) is type(b)


def _equal(a: Any, b: Any) -> bool:
    """``reflect.DeepEqual`` of decoded JSON (1 != 1.0 != True)."""
    if not _same_type(a, b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _key_str(v: Any) -> str:
    """Go ``fmt.Sprintf("%v", v)`` for merge-key values (sorting and matching)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    return str(v)


def _diff_maps(original: dict, modified: dict, context: tuple[str, ...], *, ignore_deletions: bool, ignore_changes: bool) -> dict:
    patch: dict = {}
    for key, mod in modified.items():
        if key not in original:
            if not ignore_changes:
                patch[key] = copy.deepcopy(mod)
            continue
        orig = original[key]
        if not _same_type(orig, mod):
            if not ignore_changes:
                patch[key] = copy.deepcopy(mod)
            continue
        if isinstance(orig, dict):
            sub = _diff_maps(orig, mod, context + (_ctx_name(context, key),), ignore_deletions=ignore_deletions, ignore_changes=ignore_changes)
            if sub:
                patch[key] = sub
        elif isinstance(orig, list):
            _diff_slice(key, orig, mod, patch, context, ignore_deletions=ignore_deletions, ignore_changes=ignore_changes)
        elif not ignore_changes and not _equal(orig, mod):
            patch[key] = copy.deepcopy(mod)
    if not ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    return patch


def _diff_slice(key: str, orig: list, mod: list, patch: dict, context: tuple[str, ...], *, ignore_deletions: bool, ignore_changes: bool) -> None:
    merge_key = _merge_key(context, key)
    if merge_key is None and key not in MERGE_PRIMITIVE_LISTS:
        if not ignore_changes and not _equal(orig, mod):
            patch[key] = copy.deepcopy(mod)
        return
    if not orig:
        if mod and not ignore_changes:
            patch[key] = copy.deepcopy(mod)
        return
    scalars = not any(isinstance(x, dict) for x in list(orig) + list(mod))
    if scalars:
        added, deleted = _diff_scalars(orig, mod, ignore_deletions=ignore_deletions, ignore_changes=ignore_changes)
        if added:
            patch[key] = added
        if deleted:
            patch[f"$deleteFromPrimitiveList/{key}"] = deleted
        if (not ignore_deletions and deleted) or (not ignore_changes and not _equal(orig, mod)):
            patch[f"$setElementOrder/{key}"] = copy.deepcopy(mod)
        return
    if merge_key is None:
        raise CommandError(f"cannot merge lists without merge key for {key}")
    changed, deletions = _diff_lists_of_maps(orig, mod, merge_key, context + (key,), ignore_deletions=ignore_deletions, ignore_changes=ignore_changes)
    order_same = [_key_str(x.get(merge_key)) for x in orig if isinstance(x, dict)] == [_key_str(x.get(merge_key)) for x in mod if isinstance(x, dict)]
    items = changed + deletions
    if items:
        patch[key] = items
    if (not ignore_changes and (items or not order_same)) or (not ignore_deletions and items):
        patch[f"$setElementOrder/{key}"] = [{merge_key: x.get(merge_key)} for x in mod if isinstance(x, dict)]


def _diff_scalars(orig: list, mod: list, *, ignore_deletions: bool, ignore_changes: bool) -> tuple[list, list]:
    o_keys = {_key_str(x) for x in orig}
    m_keys = {_key_str(x) for x in mod}
    added = [] if ignore_changes else sorted((x for x in mod if _key_str(x) not in o_keys), key=_key_str)
    deleted: list = []
    if not ignore_deletions:
        for x in sorted(orig, key=_key_str):
            if _key_str(x) not in m_keys and x not in deleted:
                deleted.append(x)
    return added, deleted


def _diff_lists_of_maps(orig: list, mod: list, merge_key: str, context: tuple[str, ...], *, ignore_deletions: bool, ignore_changes: bool) -> tuple[list, list]:
    for lst in (orig, mod):
        for item in lst:
            if not isinstance(item, dict) or merge_key not in item:
                raise CommandError(f"map: {item} does not contain declared merge key: {merge_key}")
    orig_by = {_key_str(x[merge_key]): x for x in orig}
    mod_by = {_key_str(x[merge_key]): x for x in mod}
    changed: list = []
    for m in mod:  # in the manifest's order (normalizeSliceOrder)
        k = _key_str(m[merge_key])
        o = orig_by.get(k)
        if o is None:
            if not ignore_changes:
                changed.append(copy.deepcopy(m))
            continue
        sub = _diff_maps(o, m, context, ignore_deletions=ignore_deletions, ignore_changes=ignore_changes)
        if sub:
            sub[merge_key] = m[merge_key]
            changed.append(sub)
    deletions: list = []
    if not ignore_deletions:
        for k in sorted(orig_by):
            if k not in mod_by:
                deletions.append({"$patch": "delete", merge_key: orig_by[k][merge_key]})
    return changed, deletions


def _merge_patches(base: dict, extra: dict, context: tuple[str, ...]) -> dict:
    """``mergeMap(deletions, delta)`` for two patches computed against the same *modified*."""
    out = copy.deepcopy(base)
    for key, val in extra.items():
        if key not in out or val is None or key.startswith("$"):
            out[key] = copy.deepcopy(val)
            continue
        cur = out[key]
        if isinstance(cur, dict) and isinstance(val, dict):
            out[key] = _merge_patches(cur, val, context + (_ctx_name(context, key),))
        elif isinstance(cur, list) and isinstance(val, list):
            mk = _merge_key(context, key)
            if mk is None:
                out[key] = copy.deepcopy(val)
                continue
            # the same item in both patches (changes inside it and deletions inside it): merge
            base_by = {_key_str(x.get(mk)): x for x in cur if isinstance(x, dict)}
            merged = []
            for item in val:
                k = _key_str(item.get(mk)) if isinstance(item, dict) else None
                if k is not None and k in base_by and "$patch" not in item and "$patch" not in base_by[k]:
                    merged.append(_merge_patches(base_by[k], item, context + (key,)))
                else:
                    merged.append(copy.deepcopy(item))
            keys = {_key_str(x.get(mk)) for x in val if isinstance(x, dict)}
            out[key] = merged + [x for x in cur if not (isinstance(x, dict) and _key_str(x.get(mk)) in keys)]
        else:
            out[key] = copy.deepcopy(val)
    return out


def three_way_merge_patch(original: dict | None, modified: dict, current: dict, kind: str = "") -> dict:
    """``CreateThreeWayMergePatch(original, modified, current)`` with overwrite: the strategic
    merge patch that turns ``current`` into ``modified`` and removes what ``original`` (the last
    applied configuration) had and ``modified`` no longer has. ``kind`` selects merge keys
    that depend on the type (Service ports)."""
    ctx = (kind,)
    delta = _diff_maps(current or {}, modified, ctx, ignore_deletions=True, ignore_changes=False)
    deletions = _diff_maps(original or {}, modified, ctx, ignore_deletions=False, ignore_changes=True)
    return _merge_patches(deletions, delta, ctx)


# --------------------------------------------------------------------------------------------
# the command


def _info_string(rt: ResourceType, name: str, namespace: str | None) -> str:
    """``resource.Info.String()``."""
    return (
        f'Resource: "{rt.group}/{rt.version}, Resource={rt.name}", GroupVersionKind: "{rt.group}/{rt.version}, Kind={rt.kind}"\n'
        f'Name: "{name}", Namespace: "{namespace or ""}"'
    )


async def run_apply(
    client: Client,
    filenames: list[str],
    *,
    namespace: str | None = None,
    dry_run: str = "none",
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
    command_name: str = "svcnet",
) -> int:
    """``kubectl apply -f``; returns the exit code (1 if any object failed)."""
    out = out or sys.stdout
    err = err or sys.stderr
    errors: list[BaseException] = []
    if dry_run not in ("none", "client", "server"):
        emit(err, f'error: Invalid dry-run value ({dry_run}). Must be "none", "server", or "client".\n')
        return 1
    if not filenames:
        emit(err, "error: must specify one of -f and -k\n")
        return 1
    suffix = {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    objects, read_errors = read_objects(filenames, client, namespace, stdin=stdin)
    errors.extend(read_errors)
    for mo in objects:
        if mo.error or mo.rt is None:
            errors.append(CommandError(mo.error))
            continue
        rt = mo.rt
        obj = copy.deepcopy(mo.obj)
        md = obj.setdefault("metadata", {})
        name = md.get("name") or ""
        if rt.namespaced:
            md["namespace"] = mo.namespace
        modified = with_last_applied(obj)
        try:
            live = await client.get(rt, name, mo.namespace)
        except NotFound:
            live = None
        except SvcnetError as e:
            errors.append(add_source_to_error(f"retrieving current configuration of:\n{_info_string(rt, name, mo.namespace)}\nfrom server for:", mo.source, e))
            continue
        if live is None:
            if dry_run != "client":
                try:
                    await client.create(rt, modified, mo.namespace, dry_run=dry_run == "server")
                except SvcnetError as e:
                    errors.append(add_source_to_error("creating", mo.source, e))
                    continue
            emit(out, f"{qualified_name(rt, name)} created{suffix}\n")
            continue
        if dry_run != "client":
            live_ann = ((live.get("metadata") or {}).get("annotations") or {})
            if LAST_APPLIED not in live_ann:
                emit(err, _WARNING_NO_ANNOTATION.format(name=f"{rt.name}/{name}", ann=LAST_APPLIED, cmd=command_name))
            original = None
            if live_ann.get(LAST_APPLIED):
                try:
                    original = json.loads(live_ann[LAST_APPLIED])
                except ValueError:
                    original = None
            try:
                patch = three_way_merge_patch(original, modified, live, rt.kind)
            except SvcnetError as e:
                errors.append(add_source_to_error("applying patch", mo.source, e))
                continue
            if not patch:
                emit(out, f"{qualified_name(rt, name)} unchanged{suffix}\n")
                continue
            try:
                await client.patch(rt, name, patch, mo.namespace, patch_type="strategic", dry_run=dry_run == "server")
            except SvcnetError as e:
                errors.append(add_source_to_error(f"applying patch:\n{go_json(patch)}\nto:\n{_info_string(rt, name, mo.namespace)}\nfor:", mo.source, e))
                continue
        emit(out, f"{qualified_name(rt, name)} configured{suffix}\n")
    if errors:
        emit(err, format_errors(errors))
        return 1
    return 0


def register(app: typer.Typer) -> None:
    @app.command("apply")
    def apply(
        filename: list[str] = typer.Option([], "--filename", "-f", help="Files, directories or - (stdin) with the manifests."),
        namespace: str = typer.Option("", "--namespace", "-n", help="Namespace for objects that do not name one."),
        dry_run: str = typer.Option("none", "--dry-run", help="none, client or server."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Path to the kubeconfig file."),
        context: str = typer.Option("", "--context", help="The kubeconfig context to use."),
    ) -> None:
        """Apply a configuration to resources from files or stdin (like kubectl apply)."""
        code = run_command(
            lambda client: run_apply(client, list(filename), namespace=namespace or None, dry_run=dry_run),
            kubeconfig=kubeconfig or None,
            context=context or None,
        )
        raise typer.Exit(code)
