"""Client-side printing, as kubectl prints: tables, names, YAML/JSON, and errors.

Theory of operation
-------------------
Tables. The server (or :func:`svcnet.apiserver.tables.to_table` for us) sends every column;
the client only lays them out (k8s.io/cli-runtime/pkg/printers/tableprinter.go):

* ``decorate`` adds a ``NAMESPACE`` first column (``-A``), ``-L key`` columns (header = the
  upper-cased part of the key after the last ``/``, cell = the label value or empty), a
  ``LABELS`` column (``--show-labels``: ``a=b,c=d`` or ``<none>``) and, when several kinds are
  printed at once, ``kind/`` prefixes on the name column (``service/web``,
  ``deployment.apps/web``). Namespace and labels come from each row's
  ``PartialObjectMetadata``.
* headers are the upper-cased column names; priority>0 columns are skipped unless ``-o wide``;
  a table with no rows prints nothing (not even headers); headers are not repeated for a table
  whose columns equal the last ones printed once rows have been printed (watch events).
* cells are written tab-separated into :class:`TabWriter`, a port of Go's ``text/tabwriter``
  with the ``RememberWidths`` flag kubectl uses (min width 6, padding 3, pad ' '): columns are
  as wide as their widest cell plus 3, never narrower than before in the same stream (so watch
  rows stay aligned), the last cell of a line is not padded. A string cell is cut at its first
  newline and gets ``...``.

Other outputs: ``-o name`` prints ``<kind>[.<group>]/<name>``; ``-o yaml|json`` print one
object as is, several as a ``List`` (apiVersion v1, ``metadata.resourceVersion: ""``) with
each item's kind/apiVersion filled in, through :mod:`svcnet.api.manifest` when it is present.

Errors follow kubectl's ``cmdutil.CheckErr``: ``Error from server (<Reason>): <message>``;
Invalid errors as ``The <Kind> "<name>" is invalid: <cause>`` (several causes: a ``* `` line
each); Unauthorized as ``error: You must be logged in to the server (<message>)``; anything
else as ``error: <message>``. Several errors (apply, delete) print one per line, each through
``StandardErrorMessage`` (Invalid included, as ``Error from server (Invalid): ...``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from svcnet.api.errors import APIError, Invalid
from svcnet.api.resources import ResourceType

__all__ = [
    "PrintOptions",
    "TablePrinter",
    "TabWriter",
    "dump_objects",
    "format_error",
    "format_errors",
    "group_kind",
    "name_of",
    "qualified_name",
    "to_list",
]


# --------------------------------------------------------------------------------------------
# Go text/tabwriter (github.com/liggitt/tabwriter: RememberWidths)


class TabWriter:
    """Go's ``text/tabwriter.Writer`` for left-aligned, space-padded text.

    Cells end at ``\\t``; a line's last cell (text before ``\\n``) is not part of a column. A
    column block is a run of consecutive lines having a cell in that column; its width is the
    widest cell + ``padding`` (at least ``minwidth``). A line with a single cell flushes, as in
    Go. With ``remember_widths`` a column never gets narrower than it was in an earlier flush
    of the same writer (kubectl ``--watch``); :meth:`reset_widths` forgets.
    """

    def __init__(self, out: TextIO, minwidth: int = 6, padding: int = 3, padchar: str = " ", remember_widths: bool = True):
        self.out = out
        self.minwidth = minwidth
        self.padding = padding
        self.padchar = padchar
        self.remember_widths = remember_widths
        self._lines: list[list[str]] = [[]]
        self._cell: list[str] = []
        self._widths: list[int] = []
        self._maxwidths: list[int] = []

    def write(self, text: str) -> None:
        start = 0
        for i, ch in enumerate(text):
            if ch in "\t\n\v\f":
                self._cell.append(text[start:i])
                start = i + 1
                ncells = self._terminate_cell()
                if ch in "\n\f":
                    self._lines.append([])
                    if ch == "\f" or ncells == 1:
                        self._flush()
        self._cell.append(text[start:])

    def _terminate_cell(self) -> int:
        line = self._lines[-1]
        line.append("".join(self._cell))
        self._cell = []
        return len(line)

    def flush(self) -> None:
        self._flush()
        try:
            self.out.flush()
        except (AttributeError, ValueError):
            pass

    def reset_widths(self) -> None:
        """``SetRememberedWidths(nil)``: a new table starts with fresh widths."""
        self._maxwidths = []

    def _flush(self) -> None:
        if "".join(self._cell):
            self._terminate_cell()
        out: list[str] = []
        self._format(0, len(self._lines), out)
        self.out.write("".join(out))
        self._lines = [[]]
        self._cell = []
        self._widths = []

    def _format(self, line0: int, line1: int, out: list[str]) -> None:
        column = len(self._widths)
        this = line0
        while this < line1:
            if column >= len(self._lines[this]) - 1:
                this += 1
                continue
            # a cell exists in this column: print the lines before the block, then the block
            self._write_lines(line0, this, out)
            line0 = this
            width = self.minwidth
            while this < line1:
                line = self._lines[this]
                if column >= len(line) - 1:
                    break
                width = max(width, len(line[column]) + self.padding)
                this += 1
            if self.remember_widths:
                if column < len(self._maxwidths):
                    if width < self._maxwidths[column]:
                        width = self._maxwidths[column]
                    else:
                        self._maxwidths[column] = width
                else:
                    self._maxwidths.append(width)
            self._widths.append(width)
            self._format(line0, this, out)
            self._widths.pop()
            line0 = this
        self._write_lines(line0, line1, out)

    def _write_lines(self, line0: int, line1: int, out: list[str]) -> None:
        for i in range(line0, line1):
            line = self._lines[i]
            for j, cell in enumerate(line):
                out.append(cell)
                if j < len(self._widths):
                    out.append(self.padchar * (self._widths[j] - len(cell)))
            if i + 1 < len(self._lines):
                out.append("\n")


# --------------------------------------------------------------------------------------------
# tables


@dataclass(slots=True)
class PrintOptions:
    """kubectl's ``printers.PrintOptions`` for human-readable tables."""

    no_headers: bool = False
    wide: bool = False
    show_labels: bool = False
    column_labels: tuple[str, ...] = ()
    with_namespace: bool = False
    #: prefix names with ``kind[.group]/`` (several kinds in one ``get``)
    with_kind: bool = False
    kind: str = ""


def group_kind(rt: ResourceType) -> str:
    """``schema.GroupKind.String()`` lower-cased: ``service``, ``deployment.apps``."""
    return (f"{rt.kind}.{rt.group}" if rt.group else rt.kind).lower()


def _format_labels(labels: dict | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _label_header(key: str) -> str:
    return key.split("/")[-1].upper()


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        for i, ch in enumerate(cell):
            if ch in "\f\n\r":
                return cell[:i] + "..."
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


class TablePrinter:
    """kubectl's ``HumanReadablePrinter`` for server-side Tables. One instance per stream of
    tables of the same kind (it remembers the last columns to skip repeated headers)."""

    def __init__(self, options: PrintOptions | None = None):
        self.options = options or PrintOptions()
        self._last_columns: list[dict] | None = None
        self._printed_headers = False

    def print_table(self, table: dict, w: TabWriter) -> None:
        table = copy.deepcopy(table)
        opts = self.options
        no_headers = opts.no_headers
        columns = table.get("columnDefinitions") or []
        if self._printed_headers and (not columns or columns == self._last_columns):
            no_headers = True
        if not columns:
            columns = self._last_columns or []
        elif columns != self._last_columns:
            self._last_columns = columns
            self._printed_headers = False
        rows = table.get("rows") or []
        if rows:
            self._printed_headers = True
        columns, rows = self._decorate(columns, rows)
        if not no_headers:
            if not rows:
                return
            w.write("\t".join(c["name"].upper() for c in columns if opts.wide or not c.get("priority")) + "\n")
        for row in rows:
            cells = []
            for i, cell in enumerate(row.get("cells") or []):
                if i >= len(columns):
                    break
                if not opts.wide and columns[i].get("priority"):
                    continue
                cells.append(_cell_text(cell))
            w.write("\t".join(cells) + "\n")

    def _decorate(self, columns: list[dict], rows: list[dict]) -> tuple[list[dict], list[dict]]:
        opts = self.options
        name_col = -1
        if opts.with_kind and opts.kind:
            for i, c in enumerate(columns):
                if c.get("format") == "name" and c.get("type") == "string":
                    name_col = i
                    break
        cols = list(columns)
        if opts.with_namespace:
            cols.insert(0, {"name": "Namespace", "type": "string", "format": "", "description": "", "priority": 0})
        for key in opts.column_labels:
            cols.append({"name": _label_header(key), "type": "string", "format": "", "description": "", "priority": 0})
        if opts.show_labels:
            cols.append({"name": "Labels", "type": "string", "format": "", "description": "", "priority": 0})
        include_labels = bool(opts.column_labels) or opts.show_labels
        out_rows = []
        for row in rows:
            row = dict(row)
            cells = list(row.get("cells") or [])
            if name_col != -1 and name_col < len(cells):
                cells[name_col] = f"{opts.kind}/{cells[name_col]}"
            obj = row.get("object")
            md = obj.get("metadata") if isinstance(obj, dict) else None
            if md is None and (opts.with_namespace or include_labels):
                if opts.with_namespace:
                    cells.insert(0, None)
                cells += [None] * (len(cols) - len(cells))
            else:
                md = md or {}
                if opts.with_namespace:
                    cells.insert(0, md.get("namespace", ""))
                if include_labels:
                    labels = md.get("labels") or {}
                    cells += [labels.get(k, "") for k in opts.column_labels]
                    if opts.show_labels:
                        cells.append(_format_labels(labels))
            row["cells"] = cells
            out_rows.append(row)
        return cols, out_rows


# --------------------------------------------------------------------------------------------
# names, YAML/JSON


def qualified_name(rt: ResourceType, name: str) -> str:
    """``-o name`` and apply/create output: ``service/web``, ``deployment.apps/web``."""
    return f"{group_kind(rt)}/{name}"


def name_of(obj: dict, rt: ResourceType | None = None) -> str:
    """``-o name`` for an object, its resource type looked up from apiVersion/kind if not given."""
    if rt is None:
        from svcnet.api.resources import by_kind

        rt = by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    name = (obj.get("metadata") or {}).get("name", "")
    if rt is None:
        av = obj.get("apiVersion", "")
        group = av.rsplit("/", 1)[0] if "/" in av else ""
        kind = obj.get("kind", "")
        return f"{(kind + '.' + group) if group else kind}".lower() + f"/{name}"
    return qualified_name(rt, name)


def to_list(objects: Iterable[dict], rts: Iterable[ResourceType | None] | None = None) -> dict:
    """kubectl's ``List`` for several objects: ``apiVersion: v1``, ``kind: List``, items with
    their kind/apiVersion filled in, ``metadata.resourceVersion: ""``."""
    items = []
    rts_l = list(rts) if rts is not None else None
    for i, obj in enumerate(objects):
        item = copy.deepcopy(obj)
        rt = rts_l[i] if rts_l is not None and i < len(rts_l) else None
        if rt is not None:
            item.setdefault("kind", rt.kind)
            item.setdefault("apiVersion", rt.api_version)
        # kubectl prints items with kind/apiVersion first; the dumpers sort keys anyway
        items.append(item)
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def _go_json(obj: Any) -> str:
    """Go ``json.MarshalIndent(obj, "", "    ")`` of an unstructured object (sorted keys,
    HTML-safe escapes) plus the newline kubectl's JSON printer adds."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def _manifest():
    try:
        from svcnet.api import manifest
    except ImportError:
        return None
    return manifest


def dump_objects(obj: dict, fmt: str) -> str:
    """``-o yaml`` / ``-o json`` text of one object (or a List), as kubectl prints it."""
    m = _manifest()
    if fmt == "json":
        if m is not None and hasattr(m, "dump_json"):
            text = m.dump_json(obj)
            return text if text.endswith("\n") else text + "\n"
        return _go_json(obj)
    if fmt == "yaml":
        if m is not None and hasattr(m, "dump_yaml"):
            text = m.dump_yaml(obj)
            return text if text.endswith("\n") else text + "\n"
        import yaml

        return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True, allow_unicode=True, width=1 << 30)
    raise ValueError(f"unknown output format {fmt!r}")


# --------------------------------------------------------------------------------------------
# errors (k8s.io/kubectl/pkg/cmd/util/helpers.go checkErr / StandardErrorMessage)


def _connection_refused(err: BaseException) -> bool:
    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return True
        if "Connect call failed" in str(e) or "Connection refused" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _server_of(message: str) -> str:
    # the HTTP transport says "cannot reach the API server at https://host:port: ..."
    rest = message.split(" at ", 1)[1] if " at " in message else message
    url = rest.split(": ", 1)[0]
    return url.split("://", 1)[-1].rstrip("/")


def _standard_message(err: BaseException) -> str | None:
    """``StandardErrorMessage``: the text for API errors, None for other errors."""
    if isinstance(err, APIError):
        msg = err.message
        if err.status.get("reason") == "ServiceUnavailable" and msg.startswith("cannot reach the API server at "):
            host = _server_of(msg)
            if _connection_refused(err):
                return f"The connection to the server {host} was refused - did you specify the right host or port?"
            return f"Unable to connect to the server: {msg}"
        reason = err.status.get("reason") or ""
        if reason == "Unauthorized":
            return f"error: You must be logged in to the server ({msg})"
        if reason:
            return f"Error from server ({reason}): {msg}"
        return f"Error from server: {msg}"
    return None


def _invalid_message(err: Invalid) -> str:
    details = err.status.get("details")
    if not details:
        return err.message
    s = "The request is invalid"
    if details.get("kind") or details.get("name"):
        s = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
    causes = details.get("causes") or []
    if not causes:
        return s
    msgs: list[str] = []
    for c in causes:
        m = f'{c.get("field", "")}: {c.get("message", "")}'
        if m not in msgs:
            msgs.append(m)
    prefix = s + ": "
    if len(msgs) == 1:
        return prefix + msgs[0]
    return prefix + "\n" + "".join(f"* {m}\n" for m in msgs)


def format_error(err: BaseException) -> str:
    """What ``kubectl`` prints on stderr for a single error (ending with a newline)."""
    if isinstance(err, Invalid) or (isinstance(err, APIError) and err.status.get("reason") == "Invalid"):
        msg = _invalid_message(err) if isinstance(err, Invalid) else err.message
    else:
        msg = _standard_message(err)
        if msg is None:
            msg = str(err)
            if not msg.startswith("error: "):
                msg = f"error: {msg}"
    return msg if msg.endswith("\n") else msg + "\n"


def format_errors(errs: list[BaseException]) -> str:
    """kubectl's output for the errors a multi-object command collected: one error is printed
    as :func:`format_error`; several as ``MultipleErrors`` (one ``StandardErrorMessage`` line
    each, Invalid errors included)."""
    if not errs:
        return ""
    if len(errs) == 1:
        return format_error(errs[0])
    out = []
    for e in errs:
        msg = _standard_message(e)
        if msg is None:
            msg = str(e)
        out.append(msg + "\n")
    return "".join(out)

