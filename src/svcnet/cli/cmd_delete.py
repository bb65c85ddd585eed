"""``svcnet delete``: delete objects named on the command line, selected by labels, or in files.

Theory of operation
-------------------
As ``kubectl delete`` (k8s.io/kubectl/pkg/cmd/delete/delete.go):

* targets: ``-f FILE|DIR|-`` (each object's kind/name/namespace), ``TYPE NAME...``,
  ``TYPE/NAME...``, or ``TYPE -l SELECTOR`` / ``TYPE --all`` (listed first);
* grace: ``--grace-period=N`` is sent as ``gracePeriodSeconds``; ``--now`` is 1;
  ``--grace-period=0`` without ``--force`` becomes 1 (kubectl protects against data loss);
  ``--force`` (grace 0) warns first and reports ``force deleted``;
* output per object, on stdout: ``service "web" deleted`` (``deployment.apps "web" deleted``
  for grouped kinds; ``(dry run)``/``(server dry run)`` suffixes; ``-o name`` prints
  ``service/web``). kubectl 1.27 to 1.33 print the same words (checked against the real
  binaries); later kubectl releases add the namespace, which we do not;
* missing objects: ``Error from server (NotFound): services "x" not found`` at the end, exit 1,
  unless ``--ignore-not-found``; a selector that matches nothing prints ``No resources found``;
* ``--wait`` (default) then waits until every deleted object is gone (graceful pod deletion,
  finalizers), as kubectl does, for at most ``--timeout`` seconds (0: no limit).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import typer

from svcnet.api.errors import APIError, NotFound, SvcnetError
from svcnet.api.resources import ResourceType
from svcnet.cli.cmd_get import enhance_list_error
from svcnet.cli.cmdutil import (
    CommandError,
    add_source_to_error,
    effective_namespace,
    emit,
    parse_resource_args,
    read_objects,
    run_command,
)
from svcnet.cli.printers import format_error, format_errors, group_kind
from svcnet.client.base import Client

__all__ = ["register", "run_delete"]

_FORCE_WARNING = (
    "Warning: Immediate deletion does not wait for confirmation that the running resource has been "
    "terminated. The resource may continue to run on the cluster indefinitely.\n"
)


async def _wait_gone(client: Client, targets: list[tuple[ResourceType, str, str | None, str]], timeout: float | None) -> list[BaseException]:
    """Poll until each (type, name, namespace, uid) is gone or replaced by a new uid."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    pending = list(targets)
    delay = 0.05
    while pending:
        still = []
        for rt, name, ns, uid in pending:
            try:
                obj = await client.get(rt, name, ns)
            except NotFound:
                continue
            if uid and (obj.get("metadata") or {}).get("uid") != uid:
                continue
            still.append((rt, name, ns, uid))
        pending = still
        if not pending:
            break
        if deadline is not None and loop.time() >= deadline:
            return [
                CommandError(f'timed out waiting for the condition on {rt.name}/{name}') for rt, name, _ns, _uid in pending
            ]
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return []


async def run_delete(
    client: Client,
    args: list[str] | None = None,
    *,
    filenames: list[str] | None = None,
    namespace: str | None = None,
    selector: str | None = None,
    all_: bool = False,
    grace_period: int = -1,
    now: bool = False,
    force: bool = False,
    wait: bool = True,
    timeout: float | None = None,
    ignore_not_found: bool = False,
    output: str = "",
    dry_run: str = "none",
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """``kubectl delete``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = list(args or [])
    filenames = list(filenames or [])
    errors: list[BaseException] = []
    try:
        if dry_run not in ("none", "client", "server"):
            raise CommandError(f'Invalid dry-run value ({dry_run}). Must be "none", "server", or "client".')
        if output not in ("", "name"):
            raise CommandError(f"unexpected -o output mode: {output}, the flag 'output' must be one of yaml|json|name")
        if now:
            if grace_period != -1:
                raise CommandError("--now and --grace-period cannot be specified together")
            grace_period = 1
        if grace_period == 0 and not force:
            grace_period = 1  # kubectl: --grace-period=0 needs --force
        if force and grace_period < 0:
            grace_period = 0
        if filenames and args:
            raise CommandError("when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well")
        if not filenames and not args:
            raise CommandError("You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
    except SvcnetError as e:
        emit(err, format_error(e))
        return 1

    ns = effective_namespace(client, namespace)
    # (type, name, namespace) to delete, in order
    targets: list[tuple[ResourceType, str, str | None]] = []
    sources: list[str] = []
    selected = False
    if filenames:
        objects, read_errors = read_objects(filenames, client, namespace, stdin=stdin)
        errors.extend(read_errors)
        for mo in objects:
            if mo.error or mo.rt is None:
                errors.append(CommandError(mo.error))
                continue
            targets.append((mo.rt, (mo.obj.get("metadata") or {}).get("name", ""), mo.namespace))
            sources.append(mo.source)
    else:
        try:
            types, named = parse_resource_args(args)
        except SvcnetError as e:
            emit(err, format_error(e))
            return 1
        if named:
            if selector or all_:
                emit(err, "error: name cannot be provided when a selector is specified\n")
                return 1
            targets = [(rt, name, ns if rt.namespaced else None) for rt, name in named]
        else:
            if not selector and not all_:
                emit(err, 'error: resource(s) were provided, but no name was specified\n')
                return 1
            selected = True
            for rt in types:
                try:
                    lst = await client.list(rt, ns if rt.namespaced else None, label_selector=selector or None)
                except APIError as e:
                    errors.append(enhance_list_error(e, rt, selector, None))
                    continue
                for o in lst.get("items") or []:
                    md = o.get("metadata") or {}
                    targets.append((rt, md.get("name", ""), md.get("namespace") if rt.namespaced else None))

    if force and grace_period == 0:
        emit(err, _FORCE_WARNING)
    operation = "force deleted" if grace_period == 0 else "deleted"
    if dry_run == "client":
        operation += " (dry run)"
    elif dry_run == "server":
        operation += " (server dry run)"

    deleted: list[tuple[ResourceType, str, str | None, str]] = []
    found = 0
    for i, (rt, name, tns) in enumerate(targets):
        source = sources[i] if i < len(sources) else ""
        try:
            if dry_run == "client":
                obj = await client.get(rt, name, tns)
            else:
                obj = await client.delete(
                    rt,
                    name,
                    tns,
                    grace_period_seconds=grace_period if grace_period >= 0 else None,
                    dry_run=dry_run == "server",
                )
        except NotFound as e:
            if not ignore_not_found:
                errors.append(add_source_to_error("deleting", source, e))
            continue
        except SvcnetError as e:
            errors.append(add_source_to_error("deleting", source, e))
            continue
        found += 1
        if output == "name":
            emit(out, f"{group_kind(rt)}/{name}\n")
        else:
            emit(out, f'{group_kind(rt)} "{name}" {operation}\n')
        if dry_run == "none":
            deleted.append((rt, name, tns, (obj.get("metadata") or {}).get("uid", "")))

    if selected and found == 0 and not errors:
        emit(out, "No resources found\n")
    if wait and deleted and grace_period != 0:
        errors.extend(await _wait_gone(client, deleted, timeout))
    if errors:
        emit(err, format_errors(errors))
        return 1
    return 0


def _parse_bool(s: str) -> bool:
    """Go ``strconv.ParseBool``."""
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(s)


def register(app: typer.Typer) -> None:
    @app.command("delete")
    def delete(
        args: list[str] = typer.Argument(None, help="TYPE NAME..., TYPE/NAME..., or TYPE with -l/--all."),
        filename: list[str] = typer.Option([], "--filename", "-f", help="Files, directories or - with the objects to delete."),
        namespace: str = typer.Option("", "--namespace", "-n", help="Namespace (default: the kubeconfig's, else default)."),
        selector: str = typer.Option("", "--selector", "-l", help="Delete the objects matching this label selector."),
        all_: bool = typer.Option(False, "--all", help="Delete all objects of the type in the namespace."),
        grace_period: int = typer.Option(-1, "--grace-period", help="Seconds given to the object to terminate gracefully (-1: its default)."),
        now: bool = typer.Option(False, "--now", help="Delete at once (grace period 1)."),
        force: bool = typer.Option(False, "--force", help="With --grace-period=0: delete immediately."),
        wait: str = typer.Option("true", "--wait", help="Wait until the objects are gone (true/false)."),
        timeout: float = typer.Option(0, "--timeout", help="Seconds to wait (0: no limit)."),
        ignore_not_found: bool = typer.Option(False, "--ignore-not-found", help="Missing objects are not an error."),
        output: str = typer.Option("", "--output", "-o", help="name: print type/name only."),
        dry_run: str = typer.Option("none", "--dry-run", help="none, client or server."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Path to the kubeconfig file."),
        context: str = typer.Option("", "--context", help="The kubeconfig context to use."),
    ) -> None:
        """Delete resources by file names, stdin, resources and names, or by label selector."""
        try:
            wait_b = _parse_bool(wait)
        except ValueError:
            typer.echo(f'error: invalid argument "{wait}" for "--wait" flag: strconv.ParseBool: parsing "{wait}": invalid syntax', err=True)
            raise typer.Exit(1) from None
        code = run_command(
            lambda client: run_delete(
                client,
                list(args or []),
                filenames=list(filename),
                namespace=namespace or None,
                selector=selector or None,
                all_=all_,
                grace_period=grace_period,
                now=now,
                force=force,
                wait=wait_b,
                timeout=timeout or None,
                ignore_not_found=ignore_not_found,
                output=output,
                dry_run=dry_run,
            ),
            kubeconfig=kubeconfig or None,
            context=context or None,
        )
        raise typer.Exit(code)
