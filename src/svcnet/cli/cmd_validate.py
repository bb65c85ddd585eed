"""``svcnet validate -f FILE|DIR|- [-f ...] [-o yaml|json] [-n NS]``: offline defaulting + validation.

Theory of operation
-------------------
For every object of every manifest, the same steps the API server takes before allocation:

1. ``apply_defaults`` (v1 defaulting on decode);
2. the namespace kubectl would send (``-n``, default ``default``) for namespaced kinds that have
   none; cluster-scoped objects lose theirs (the server clears it);
3. a ``generateName`` stands in for the name (validated as a prefix, plus a 5-character suffix);
4. for Services, the registry's clusterIP normalisation (``clusterIPs = [clusterIP]``);
5. ``validate`` (create rules). No allocation, so allocation errors (taken IPs, nodePort range)
   are not reported.

Output follows kubectl: an invalid object prints ``The Service "web" is invalid: <error>`` to
stderr, or, with several errors, the header followed by one ``* <error>`` line each
(kubectl's ``MultilineError``); a manifest that cannot be read prints ``error: <message>``.
A valid object prints ``service/web validated`` to stdout, unless ``-o yaml|json`` asks for the
defaulted objects (a ``List`` when there are several). Exit status 1 if anything was invalid or
unreadable, else 0.
"""

from __future__ import annotations

import copy
import sys

import typer

from svcnet.api.defaults import apply_defaults
from svcnet.api.errors import FieldError
from svcnet.api.manifest import ManifestError, dump_json, dump_yaml, list_object, read_manifest_paths
from svcnet.api.resources import by_kind
from svcnet.api.service import normalize_cluster_ips
from svcnet.api.validation import validate

__all__ = ["format_invalid", "register", "run_validate"]

_GENERATED_SUFFIX = "xxxxx"


def format_invalid(kind: str, name: str, errs: list[FieldError]) -> str:
    """kubectl's rendering of a 422 Invalid error (checkErr + MultilineError), ending in a newline."""
    prefix = f'The {kind} "{name}" is invalid: '
    lines: list[str] = []
    for e in errs:
        msg = f"{e.field}: {e.body()}"
        if msg not in lines:
            lines.append(msg)
    if len(lines) == 1:
        return prefix + lines[0] + "\n"
    return prefix + "\n" + "".join(f"* {m}\n" for m in lines)


def run_validate(paths: list[str], output: str | None, namespace: str) -> int:
    """The command's logic; returns the exit status."""
    if output not in (None, "", "yaml", "json"):
        sys.stderr.write(
            f'error: unable to match a printer suitable for the output format "{output}", '
            "allowed formats are: json,yaml\n"
        )
        return 1
    failed = False
    loaded: list[tuple[str, dict]] = []
    for path in paths:
        try:
            loaded.extend(read_manifest_paths([path]))
        except ManifestError as e:
            sys.stderr.write(f"error: {e}\n")
            failed = True
    if not loaded and not failed:
        sys.stderr.write("error: no objects passed to validate\n")
        return 1

    valid: list[dict] = []
    for source, raw in loaded:
        obj = apply_defaults(copy.deepcopy(raw))
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        rt = by_kind(api_version, kind)
        if rt is None:
            sys.stderr.write(
                f'error: unable to recognize "{source}": no matches for kind "{kind}" in version "{api_version}"\n'
            )
            failed = True
            continue
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if rt.namespaced:
            meta.setdefault("namespace", namespace)
            if not meta.get("namespace"):
                meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if kind == "Service":
            normalize_cluster_ips(obj)
        candidate = obj
        generated = False
        if not meta.get("name") and meta.get("generateName"):
            candidate = copy.deepcopy(obj)
            candidate["metadata"]["name"] = meta["generateName"] + _GENERATED_SUFFIX
            generated = True
        errs = validate(candidate)
        name = meta.get("name") or meta.get("generateName") or ""
        if errs:
            sys.stderr.write(format_invalid(kind, name if not generated else "", errs))
            failed = True
            continue
        valid.append(obj)
        if not output:
            resource = rt.singular + (f".{rt.group}" if rt.group else "")
            sys.stdout.write(f"{resource}/{name} validated\n")

    if output and valid:
        doc = valid[0] if len(valid) == 1 else list_object(valid)
        sys.stdout.write(dump_yaml(doc) if output == "yaml" else dump_json(doc))
    sys.stdout.flush()
    return 1 if failed else 0


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_cmd(
        filename: list[str] = typer.Option(
            ...,
            "-f",
            "--filename",
            help="Manifest file, directory (*.yaml, *.yml, *.json; not recursive) or - for stdin. Repeatable.",
        ),
        output: str = typer.Option(
            "", "-o", "--output", help="Print the defaulted objects instead: yaml or json."
        ),
        namespace: str = typer.Option(
            "default", "-n", "--namespace", help="Namespace for namespaced objects that set none."
        ),
    ) -> None:
        """Default and validate manifests offline, with the API server's exact error messages."""
        raise typer.Exit(run_validate(filename, output or None, namespace))
