"""``svcnet get``: list or fetch objects and print them as ``kubectl get`` does.

Theory of operation
-------------------
``get TYPE[,TYPE] [NAME...]`` (or ``TYPE/NAME...``) reads each named object, or lists each
type (``-n``/``-A``, ``-l``, ``--field-selector``), then prints:

* tables (default, ``-o wide``): one Table per resource type, built with
  :func:`svcnet.apiserver.tables.to_table` exactly as the API server builds it, laid out by
  :mod:`svcnet.cli.printers`. Several types print one block each, separated by a blank line,
  with ``kind/`` name prefixes (``get all``, ``get svc,po``). Nothing printed and no error:
  ``No resources found in <ns> namespace.`` (``No resources found`` with ``-A`` or for
  cluster-scoped types) on stderr, exit 0.
* ``-o name``: ``service/web`` lines; ``-o yaml|json``: the object for a single ``NAME``, else a
  ``List``.
* errors (``NotFound`` for missing names, bad selectors) are printed after the output, in
  kubectl's format, and make the exit code 1. List errors for BadRequest/NotFound are worded
  as kubectl's ``EnhanceListError`` does (``Unable to find "/v1, Resource=services" that
  match label selector ...``).

``--watch`` (one type) prints the table, then one row per event (ADDED/MODIFIED/DELETED) with
no repeated headers, the columns kept as wide as they have been, until Ctrl-C or ``stop``;
``--watch-only`` skips the initial listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import sys
from typing import TextIO

import typer

from svcnet.api.errors import APIError, BadRequest, NotFound, SvcnetError
from svcnet.api.resources import ResourceType
from svcnet.apiserver.tables import to_table
from svcnet.cli.cmdutil import CommandError, effective_namespace, emit, parse_resource_args, run_command
from svcnet.cli.printers import (
    PrintOptions,
    TablePrinter,
    TabWriter,
    dump_objects,
    format_error,
    format_errors,
    group_kind,
    qualified_name,
    to_list,
)
from svcnet.client.base import Client

__all__ = ["enhance_list_error", "register", "run_get"]

_OUTPUTS = ("", "wide", "name", "yaml", "json")


def _jsonpath_template(output: str) -> str | None:
    """``jsonpath=TEMPLATE`` (or ``jsonpath='TEMPLATE'``) -> TEMPLATE; None for other formats."""
    kind, eq, template = output.partition("=")
    if kind != "jsonpath":
        return None
    if not eq or not template:
        raise CommandError("template format specified but no template given")
    if len(template) >= 2 and template[0] == template[-1] and template[0] in "'\"":
        template = template[1:-1]
    return template


def render_jsonpath(template: str, data: object) -> str:
    from svcnet.cli.jsonpath import JSONPathError, render

    try:
        return render(template, data)
    except JSONPathError as e:
        raise CommandError(f"error parsing jsonpath {template}, {e}") from None


def enhance_list_error(err: APIError, rt: ResourceType, label_selector: str | None, field_selector: str | None) -> APIError:
    """kubectl's ``EnhanceListError``: name the resource and selectors in list errors."""
    if not isinstance(err, (BadRequest, NotFound)):
        return err
    subj = f"{rt.group}/{rt.version}, Resource={rt.name}"
    status = dict(err.status)
    if not label_selector and not field_selector:
        status["message"] = f'Unable to list "{subj}": {err.message}'
    else:
        status["message"] = (
            f'Unable to find "{subj}" that match label selector "{label_selector or ""}", '
            f'field selector "{field_selector or ""}": {err.message}'
        )
    return type(err)(status=status)


async def _list(client: Client, rt: ResourceType, ns: str | None, all_namespaces: bool, selector: str | None, field_selector: str | None) -> dict:
    try:
        return await client.list(
            rt,
            None if all_namespaces or not rt.namespaced else ns,
            all_namespaces=all_namespaces,
            label_selector=selector or None,
            field_selector=field_selector or None,
        )
    except APIError as e:
        raise enhance_list_error(e, rt, selector, field_selector) from None


def _with_type(rt: ResourceType, obj: dict) -> dict:
    obj = dict(obj)
    obj.setdefault("kind", rt.kind)
    obj.setdefault("apiVersion", rt.api_version)
    return obj


async def run_get(
    client: Client,
    args: list[str],
    *,
    namespace: str | None = None,
    all_namespaces: bool = False,
    output: str = "",
    selector: str | None = None,
    field_selector: str | None = None,
    show_labels: bool = False,
    label_columns: tuple[str, ...] | list[str] = (),
    no_headers: bool = False,
    watch: bool = False,
    watch_only: bool = False,
    ignore_not_found: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: _dt.datetime | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """``kubectl get``; returns the exit code. ``now`` fixes the clock for AGE columns;
    ``stop`` ends a watch (Ctrl-C does in the CLI)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        template = _jsonpath_template(output)
        if template is not None:
            render_jsonpath(template, {})  # a template that does not parse fails before any request
        elif output not in _OUTPUTS:
            raise CommandError(f"unable to match a printer suitable for the output format \"{output}\", allowed formats are: json,jsonpath,name,wide,yaml")
        types, named = parse_resource_args(args)
        if named and (selector or field_selector):
            raise CommandError("name cannot be provided when a selector is specified")
        if named and all_namespaces:
            all_namespaces = False  # kubectl ignores -A for named objects (they live in -n)
    except SvcnetError as e:
        emit(err, format_error(e))
        return 1
    ns = effective_namespace(client, namespace)
    label_columns = tuple(k for item in label_columns for k in item.split(",") if k)
    if (watch or watch_only) and template is not None:
        emit(err, format_errors([CommandError("--watch with -o jsonpath is not supported by svcnet")]))
        return 1
    if watch or watch_only:
        return await _watch(
            client, types, named, ns, all_namespaces, output, selector, field_selector, show_labels,
            label_columns, no_headers, watch_only, out, err, now, stop,
        )

    # fetch: groups of (type, objects) in first-seen order
    groups: list[tuple[ResourceType, list[dict]]] = []
    errors: list[BaseException] = []

    def group_for(rt: ResourceType) -> list[dict]:
        for g_rt, objs in groups:
            if g_rt == rt:
                return objs
        objs: list[dict] = []
        groups.append((rt, objs))
        return objs

    if named:
        for rt, name in named:
            try:
                obj = await client.get(rt, name, ns if rt.namespaced else None)
            except NotFound as e:
                if not ignore_not_found:
                    errors.append(e)
                continue
            except SvcnetError as e:
                errors.append(e)
                continue
            group_for(rt).append(_with_type(rt, obj))
    else:
        for rt in types:
            try:
                lst = await _list(client, rt, ns, all_namespaces, selector, field_selector)
            except SvcnetError as e:
                errors.append(e)
                continue
            group_for(rt).extend(_with_type(rt, o) for o in lst.get("items") or [])

    if template is not None:
        objs = [o for _rt, objs in groups for o in objs]
        single = len(args) >= 1 and len(named) == 1
        if objs:
            out.write(render_jsonpath(template, objs[0] if single and len(objs) == 1 else to_list(objs)))
        if errors:
            emit(err, format_errors(errors))
            return 1
        return 0

    if output in ("yaml", "json"):
        objs = [o for _rt, objs in groups for o in objs]
        single = len(args) >= 1 and len(named) == 1
        if single and errors:
            emit(err, format_errors(errors))
            return 1
        if objs or not ignore_not_found:
            doc = objs[0] if single and len(objs) == 1 else to_list(objs)
            emit(out, dump_objects(doc, output))
        if errors:
            emit(err, format_errors(errors))
            return 1
        return 0

    if output == "name":
        for rt, objs in groups:
            for o in objs:
                out.write(qualified_name(rt, (o.get("metadata") or {}).get("name", "")) + "\n")
        emit(out, "")
        if errors:
            emit(err, format_errors(errors))
            return 1
        return 0

    with_kind = len(groups) > 1
    written = False
    w = TabWriter(out)
    for rt, objs in groups:
        opts = PrintOptions(
            no_headers=no_headers,
            wide=output == "wide",
            show_labels=show_labels,
            column_labels=label_columns,
            with_namespace=all_namespaces and rt.namespaced,
            with_kind=with_kind,
            kind=group_kind(rt),
        )
        table = to_table(rt, objs, now=now)
        if not table["rows"]:
            continue
        w.flush()
        w.reset_widths()
        if written and not no_headers:
            out.write("\n")
        TablePrinter(opts).print_table(table, w)
        w.flush()
        written = True
    w.flush()
    if not written and not errors and not ignore_not_found:
        all_namespaced = not all_namespaces and all(rt.namespaced for rt in types)
        if all_namespaced:
            emit(err, f"No resources found in {ns} namespace.\n")
        else:
            emit(err, "No resources found\n")
    if errors:
        emit(err, format_errors(errors))
        return 1
    return 0


async def _watch(
    client: Client,
    types: list[ResourceType],
    named: list[tuple[ResourceType, str]],
    ns: str,
    all_namespaces: bool,
    output: str,
    selector: str | None,
    field_selector: str | None,
    show_labels: bool,
    label_columns: tuple[str, ...],
    no_headers: bool,
    watch_only: bool,
    out: TextIO,
    err: TextIO,
    now: _dt.datetime | None,
    stop: asyncio.Event | None,
) -> int:
    rts = {rt for rt in types} | {rt for rt, _ in named}
    if len(rts) != 1:
        emit(err, "error: you may only specify a single resource type\n")
        return 1
    (rt,) = rts
    if len(named) > 1:
        emit(err, f"error: watch is only supported on individual resources and resource collections, but {len(named)} resources were found\n")
        return 1
    if named:
        field_selector = f"metadata.name={named[0][1]}"
    try:
        if named:
            await client.get(rt, named[0][1], ns if rt.namespaced else None)
        lst = await _list(client, rt, ns, all_namespaces, selector, field_selector)
    except SvcnetError as e:
        emit(err, format_error(e))
        return 1
    opts = PrintOptions(
        no_headers=no_headers,
        wide=output == "wide",
        show_labels=show_labels,
        column_labels=label_columns,
        with_namespace=all_namespaces and rt.namespaced,
    )
    printer = TablePrinter(opts)
    w = TabWriter(out)
    printed = {"n": 0}

    def show(objs: list[dict]) -> None:
        objs = [_with_type(rt, o) for o in objs]
        if output == "name":
            for o in objs:
                out.write(qualified_name(rt, (o.get("metadata") or {}).get("name", "")) + "\n")
        elif output in ("yaml", "json"):
            for o in objs:
                if output == "yaml" and printed["n"]:
                    out.write("---\n")
                out.write(dump_objects(o, output))
                printed["n"] += 1
        else:
            printer.print_table(to_table(rt, objs, now=now), w)
            w.flush()
        try:
            out.flush()
        except (AttributeError, ValueError):
            pass

    if not watch_only:
        show(lst.get("items") or [])
    rv = (lst.get("metadata") or {}).get("resourceVersion") or None

    async def consume() -> None:
        async for frame in client.watch(
            rt,
            None if all_namespaces or not rt.namespaced else ns,
            resource_version=rv,
            label_selector=selector or None,
            field_selector=field_selector or None,
        ):
            if frame.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                show([frame["object"]])

    task = asyncio.ensure_future(consume())
    try:
        if stop is None:
            await task
        else:
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
            if task.done():
                task.result()
    except SvcnetError as e:
        emit(err, format_error(e))
        return 1
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return 0


def register(app: typer.Typer) -> None:
    @app.command("get", context_settings={"allow_interspersed_args": True})
    def get(
        args: list[str] = typer.Argument(..., help="TYPE[,TYPE...] [NAME...] or TYPE/NAME..."),
        namespace: str = typer.Option("", "--namespace", "-n", help="Namespace (default: the kubeconfig's, else default)."),
        all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="List across all namespaces."),
        output: str = typer.Option("", "--output", "-o", help="wide, name, yaml or json."),
        selector: str = typer.Option("", "--selector", "-l", help="Label selector."),
        field_selector: str = typer.Option("", "--field-selector", help="Field selector."),
        show_labels: bool = typer.Option(False, "--show-labels", help="Add a LABELS column."),
        label_columns: list[str] = typer.Option([], "--label-columns", "-L", help="Add a column per label key."),
        no_headers: bool = typer.Option(False, "--no-headers", help="Do not print headers."),
        watch: bool = typer.Option(False, "--watch", "-w", help="After listing, watch for changes."),
        watch_only: bool = typer.Option(False, "--watch-only", help="Watch for changes without listing first."),
        ignore_not_found: bool = typer.Option(False, "--ignore-not-found", help="Missing objects are not an error."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Path to the kubeconfig file."),
        context: str = typer.Option("", "--context", help="The kubeconfig context to use."),
    ) -> None:
        """Display one or many resources (like kubectl get)."""
        code = run_command(
            lambda client: run_get(
                client,
                list(args),
                namespace=namespace or None,
                all_namespaces=all_namespaces,
                output=output,
                selector=selector or None,
                field_selector=field_selector or None,
                show_labels=show_labels,
                label_columns=tuple(label_columns),
                no_headers=no_headers,
                watch=watch,
                watch_only=watch_only,
                ignore_not_found=ignore_not_found,
            ),
            kubeconfig=kubeconfig or None,
            context=context or None,
        )
        raise typer.Exit(code)
