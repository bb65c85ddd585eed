"""Manifests in and out: YAML/JSON parsing like ``kubectl -f``, printing like ``kubectl get -o``.

Theory of operation
-------------------
Loading (:func:`load_manifests`):

* Input that starts with ``{`` or ``[`` is first read as JSON - one value or a stream of
  concatenated values (``{...}{...}``, as ``kubectl get -o json -w`` writes). If that fails it
  is read as YAML (JSON is YAML, so flow-style YAML works either way).
* YAML is a stream of ``---``-separated documents, parsed with the semantics of Kubernetes'
  YAML-to-JSON step (go-yaml v2): plain ``80`` is an int, ``"80"`` a string, ``yes``/``on`` are
  booleans (YAML 1.1), timestamps stay *strings*, mapping keys become strings, a repeated key is
  an error (``key "x" already set in map``).
* Empty documents are skipped. ``kind: List`` (any ``*List`` with ``items``) is flattened into
  its items, recursively. Unknown fields are kept.
* A document that is not a mapping, or lacks ``apiVersion``/``kind``, is a :class:`ManifestError`
  naming the source and the (1-based) document number, in kubectl's words:
  ``error validating "x.yaml": error validating data: [apiVersion not set, kind not set]``.

Paths (:func:`read_manifest_paths`): ``-`` is stdin (named ``STDIN`` like kubectl), a directory
contributes its ``*.json``, ``*.yaml``, ``*.yml`` files in sorted order, non-recursively.

Dumping: :func:`dump_yaml` matches ``kubectl get -o yaml`` (sigs.k8s.io/yaml over go-yaml v2):
keys sorted, 2-space indent, sequences not indented under their key, strings that would read
back as another type (``"80"``, ``"true"``, ``""``, timestamps) in double quotes, other
strings that cannot be plain in single quotes, multi-line strings as literal blocks.
:func:`dump_json` matches ``-o json``: 4-space indent, keys sorted, ``<``/``>``/``&`` escaped
as ``\\u003c`` etc. (Go's ``json.MarshalIndent``), a trailing newline.

Nothing here does I/O except :func:`read_manifest_paths`, which reads the files it is given.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, TextIO

import yaml

from svcnet.api.errors import SvcnetError

__all__ = [
    "ManifestError",
    "dump_json",
    "dump_yaml",
    "list_object",
    "load_manifests",
    "read_manifest_paths",
]

_MANIFEST_EXTENSIONS = (".json", ".yaml", ".yml")


class ManifestError(SvcnetError):
    """A manifest that cannot be read; ``str()`` is the kubectl-style message (no ``error: ``)."""

    def __init__(self, message: str, *, source: str = "", document: int | None = None):
        super().__init__(message)
        self.source = source
        self.document = document


# --------------------------------------------------------------------------------------------
# YAML loading with Kubernetes semantics


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver, with duplicate-key detection."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _key_string(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "null"
    return str(k)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        k = _key_string(loader.construct_object(key_node, deep=True))
        if k in out:
            raise yaml.constructor.ConstructorError(
                None, None, f'key "{k}" already set in map', key_node.start_mark
            )
        out[k] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _yaml_error(source: str, err: yaml.YAMLError) -> ManifestError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    line = f"line {mark.line + 1}: " if mark is not None else ""
    return ManifestError(
        f"error parsing {source}: error converting YAML to JSON: yaml: {line}{problem}", source=source
    )


def _json_documents(text: str) -> list[Any] | None:
    """A JSON value or a stream of values; None if the text is not (entirely) JSON."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return out
        try:
            value, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        out.append(value)


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _check_object(obj: Any, source: str, doc: int) -> None:
    if not isinstance(obj, dict):
        raise ManifestError(
            f"error parsing {source} (document {doc}): the document is {_describe(obj)}, not an object "
            "(a mapping with apiVersion and kind)",
            source=source,
            document=doc,
        )
    missing = [f"{f} not set" for f in ("apiVersion", "kind") if not obj.get(f)]
    if missing:
        detail = missing[0] if len(missing) == 1 else "[" + ", ".join(missing) + "]"
        raise ManifestError(
            f'error validating "{source}" (document {doc}): error validating data: {detail}',
            source=source,
            document=doc,
        )


def _flatten(obj: dict, source: str, doc: int, out: list[dict]) -> None:
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for item in obj["items"]:
            _check_object(item, source, doc)
            _flatten(item, source, doc, out)
        return
    out.append(obj)


def load_manifests(text: str, source: str = "<stdin>") -> list[dict]:
    """All objects in ``text`` (YAML stream, JSON value or JSON stream), Lists flattened."""
    docs: list[Any] | None = None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        docs = _json_documents(text)
        if docs is not None:
            # a top-level JSON array is a list of objects, like kubectl's []interface{} input
            flat: list[Any] = []
            for d in docs:
                flat.extend(d if isinstance(d, list) else [d])
            docs = flat
    if docs is None:
        try:
            docs = list(yaml.load_all(text, Loader=_Loader))
        except yaml.YAMLError as e:
            raise _yaml_error(source, e) from None
    out: list[dict] = []
    for i, doc in enumerate(docs, start=1):
        if doc is None:
            continue  # empty document (only whitespace/comments)
        _check_object(doc, source, i)
        _flatten(doc, source, i, out)
    return out


def read_manifest_paths(paths: list[str], stdin: TextIO | None = None) -> list[tuple[str, dict]]:
    """Objects from ``-f`` arguments: files, directories (non-recursive) or ``-`` for stdin."""
    out: list[tuple[str, dict]] = []
    for path in paths:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin
            out.extend(("STDIN", obj) for obj in load_manifests(stream.read(), "STDIN"))
            continue
        if not os.path.exists(path):
            raise ManifestError(f'the path "{path}" does not exist', source=path)
        if os.path.isdir(path):
            files = sorted(
                os.path.join(path, f)
                for f in os.listdir(path)
                if f.endswith(_MANIFEST_EXTENSIONS) and os.path.isfile(os.path.join(path, f))
            )
        else:
            files = [path]
        for f in files:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
            out.extend((f, obj) for obj in load_manifests(text, f))
    return out


# --------------------------------------------------------------------------------------------
# dumping


class _Dumper(yaml.SafeDumper):
    """go-yaml v2 style: double quotes for strings that would resolve to another type."""


_FORCE_QUOTE = re.compile(r"y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|=|<<")


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    resolved = dumper.resolve(yaml.ScalarNode, data, (True, False))
    if resolved != "tag:yaml.org,2002:str" or _FORCE_QUOTE.fullmatch(data) or _looks_like_number(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_RE_NUMBERISH = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0[xX][0-9a-fA-F]+|0o[0-7]+")


def _looks_like_number(s: str) -> bool:
    # go-yaml resolves 1e3 and 0o17 as numbers where PyYAML's 1.1 resolver does not
    return bool(_RE_NUMBERISH.fullmatch(s))


def _represent_none(dumper: _Dumper, _data: None) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "null")


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(type(None), _represent_none)


def dump_yaml(obj: Any) -> str:
    """As ``kubectl get -o yaml`` prints it."""
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        indent=2,
        width=80,
    )


def dump_json(obj: Any) -> str:
    """As ``kubectl get -o json`` prints it (with a trailing newline)."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def list_object(items: list[dict]) -> dict:
    """The ``List`` kubectl prints for several objects."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
