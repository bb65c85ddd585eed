"""Plumbing shared by the kubectl-like commands (``get``, ``apply``, ``describe``, ``delete``).

Theory of operation
-------------------
Every command is an async function of a :class:`~svcnet.client.base.Client` plus options and
two text streams, returning the exit code; the Typer wrapper only parses flags, opens the
client (:func:`open_client`: ``--kubeconfig``, ``KUBECONFIG``, svcnet's own kubeconfig) and
runs it (:func:`run_command`). Tests call the async functions with ``local_client()`` and
``io.StringIO`` streams.

Resource arguments follow ``kubectl get``: ``TYPE[,TYPE...] [NAME...]`` or ``TYPE/NAME ...``;
``all`` expands to the resources in the ``all`` category (pods, services, deployments,
replicasets; in that order, as kubectl's discovery order puts core before apps). Unknown types
fail as kubectl does: ``the server doesn't have a resource type "x"``.

Manifests (``-f``) are read with :func:`svcnet.api.manifest.read_manifest_paths`; each object
gets its resource type from ``apiVersion``/``kind`` and a namespace (the object's, else ``-n``,
else the client's default) - an explicit ``-n`` that contradicts the object's namespace is an
error, with kubectl's message.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from svcnet.api.errors import APIError, SvcnetError
from svcnet.api.resources import RESOURCES, ResourceType, by_kind, lookup
from svcnet.client.base import Client

__all__ = [
    "CommandError",
    "ManifestObject",
    "add_source_to_error",
    "effective_namespace",
    "emit",
    "open_client",
    "parse_resource_args",
    "read_objects",
    "resolve_types",
    "run_command",
]


class CommandError(SvcnetError):
    """A usage or local error, printed as ``error: <message>`` (exit 1)."""


def resolve_types(arg: str) -> list[ResourceType]:
    """``svc,po`` -> [services, pods]; ``all`` -> the ``all`` category. Order kept, repeats
    dropped. Raises CommandError for an unknown type."""
    out: list[ResourceType] = []
    for part in arg.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lower() == "all":
            found = [r for r in _ALL_ORDER if "all" in r.categories]
        else:
            rt = lookup(part)
            if rt is None:
                raise CommandError(f'the server doesn\'t have a resource type "{part}"')
            found = [rt]
        for rt in found:
            if rt not in out:
                out.append(rt)
    if not out:
        raise CommandError("you must specify the type of resource to get")
    return out


# kubectl lists "all" as pods, services, (daemonsets), deployments, replicasets, ...
_ALL_ORDER: tuple[ResourceType, ...] = tuple(
    r for n in ("pods", "services", "deployments", "replicasets") for r in RESOURCES if r.name == n
)


def parse_resource_args(args: list[str]) -> tuple[list[ResourceType], list[tuple[ResourceType, str]]]:
    """kubectl's resource arguments: ``TYPE[,TYPE] [NAME...]`` -> (types, []) or
    (types, [(type, name)...]); ``TYPE/NAME...`` -> ([], [(type, name)...])."""
    if not args:
        raise CommandError("You must specify the type of resource to get. Use \"svcnet api-resources\" for a complete list of supported resources.")
    if any("/" in a for a in args):
        named: list[tuple[ResourceType, str]] = []
        for a in args:
            if "/" not in a:
                raise CommandError("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'svcnet get resource/<resource_name>' instead of 'svcnet get resource resource/<resource_name>'")
            t, name = a.split("/", 1)
            types = resolve_types(t)
            if len(types) != 1:
                raise CommandError("arguments in resource/name form must have a single resource and name")
            named.append((types[0], name))
        return [], named
    types = resolve_types(args[0])
    names = args[1:]
    if names:
        return types, [(rt, n) for rt in types for n in names]
    return types, []


def effective_namespace(client: Client, namespace: str | None) -> str:
    return namespace or client.default_namespace or "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestObject:
    """One object from ``-f``: where it came from, its resource type, namespace and body."""

    source: str
    rt: ResourceType | None
    namespace: str | None
    obj: dict
    #: a local problem with this object (unknown kind, namespace mismatch): report and skip
    error: str = ""


def _no_mapping(source: str, obj: dict) -> str:
    md = obj.get("metadata") or {}
    return (
        f'resource mapping not found for name: "{md.get("name", "")}" namespace: "{md.get("namespace", "")}" '
        f'from "{source}": no matches for kind "{obj.get("kind", "")}" in version "{obj.get("apiVersion", "")}"\n'
        "ensure CRDs are installed first"
    )


def read_objects(
    paths: list[str], client: Client, namespace: str | None, *, stdin: TextIO | None = None
) -> tuple[list[ManifestObject], list[BaseException]]:
    """The objects of ``-f`` paths, each with its resource type and namespace; unreadable
    files come back as errors (the other files still count)."""
    from svcnet.api.manifest import read_manifest_paths

    objects: list[ManifestObject] = []
    errors: list[BaseException] = []
    default_ns = effective_namespace(client, namespace)
    for path in paths:
        try:
            docs = read_manifest_paths([path], stdin=stdin)
        except SvcnetError as e:
            errors.append(e)
            continue
        except OSError as e:
            errors.append(CommandError(str(e)))
            continue
        for source, obj in docs:
            rt = by_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
            if rt is None:
                objects.append(ManifestObject(source=source, rt=None, namespace=None, obj=obj, error=_no_mapping(source, obj)))
                continue
            ns = None
            err = ""
            if rt.namespaced:
                obj_ns = (obj.get("metadata") or {}).get("namespace")
                if obj_ns and namespace and obj_ns != namespace:
                    err = (
                        f'the namespace from the provided object "{obj_ns}" does not match the namespace '
                        f'"{namespace}". You must pass \'--namespace={obj_ns}\' to perform this operation.'
                    )
                ns = obj_ns or default_ns
            objects.append(ManifestObject(source=source, rt=rt, namespace=ns, obj=obj, error=err))
    return objects, errors


def add_source_to_error(verb: str, source: str, err: BaseException) -> BaseException:
    """``cmdutil.AddSourceToErr``: ``error when <verb> "<source>": <message>``."""
    if not source:
        return err
    if isinstance(err, APIError):
        status = copy.deepcopy(err.status)
        status["message"] = f'error when {verb} "{source}": {err.message}'
        if hasattr(err, "errors"):
            new = type(err).__new__(type(err))
            APIError.__init__(new, status=status)
            new.errors = list(err.errors)  # type: ignore[attr-defined]
            return new
        return type(err)(status=status)
    return CommandError(f'error when {verb} "{source}": {err}')


def open_client(kubeconfig: str | None = None, *, context: str | None = None) -> Client:
    """The client for a command: ``--kubeconfig``, else ``KUBECONFIG``, else svcnet's own."""
    from svcnet.client.http import client_from_kubeconfig

    return client_from_kubeconfig(kubeconfig or None, context=context)


def run_command(
    body: Callable[[Client], Awaitable[int]],
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    err: TextIO | None = None,
) -> int:
    """Open the client, run ``body(client)``, close the client; Ctrl-C exits 130 quietly.
    Errors opening the client print kubectl-style and exit 1."""
    from svcnet.cli.printers import format_error

    err = err or sys.stderr

    async def main() -> int:
        try:
            client = open_client(kubeconfig, context=context)
        except SvcnetError as e:
            err.write(format_error(e))
            return 1
        try:
            return await body(client)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


def emit(stream: TextIO, text: str) -> None:
    """Write and flush (interleaving of stdout/stderr follows the order of events)."""
    stream.write(text)
    try:
        stream.flush()
    except (AttributeError, ValueError):
        pass

