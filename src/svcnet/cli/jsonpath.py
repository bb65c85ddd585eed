"""kubectl's JSONPath templates (``-o jsonpath=...``), the subset scripts use.

A template is text with actions in braces: ``{.status.loadBalancer.ingress[0].ip}``,
``{.items[*].metadata.name}``, ``{range .items[*]}{.metadata.name}{"\\n"}{end}``,
``{.items[?(@.spec.type=="NodePort")].metadata.name}``, ``{.metadata.labels['app']}``, ``{..name}`` (recursive descent; map keys in sorted order,
where Go's order is random). As kubectl (``k8s.io/client-go/util/jsonpath``): several results
of one action are joined by a space; strings print as they are, numbers and booleans as JSON,
maps and lists as compact JSON; a missing key prints nothing (kubectl get's
``--allow-missing-template-keys`` default). Pure: :func:`render`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JSONPathError", "render"]


class JSONPathError(ValueError):
    pass


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Path:
    steps: tuple  # ("field", name) | ("index", i) | ("slice", a, b, step) | ("all",) | ("recursive",) | ("filter", steps, op, literal)


@dataclass(frozen=True)
class _Range:
    path: _Path
    body: tuple


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}


def _split_actions(template: str) -> list[tuple[bool, str]]:
    """``[(is_action, text)]``: braces delimit actions; quotes inside actions may hold braces."""
    out: list[tuple[bool, str]] = []
    i, n = 0, len(template)
    buf = ""
    while i < n:
        c = template[i]
        if c == "{":
            if buf:
                out.append((False, buf))
                buf = ""
            j = i + 1
            quote = None
            while j < n:
                if quote:
                    if template[j] == "\\":
                        j += 1
                    elif template[j] == quote:
                        quote = None
                elif template[j] in "\"'":
                    quote = template[j]
                elif template[j] == "}":
                    break
                j += 1
            if j >= n:
                raise JSONPathError("unclosed action")
            out.append((True, template[i + 1:j].strip()))
            i = j + 1
        else:
            buf += c
            i += 1
    if buf:
        out.append((False, buf))
    return out


_TOKEN = re.compile(r"""\s*(?:
    (?P<dot>\.(?P<name>(?:[A-Za-z0-9_\-/$]|\\\.)+)?)
  | \[\s*(?P<bracket>[^\]]*?)\s*\]
)""", re.X)


def _parse_path(expr: str) -> _Path:
    expr = expr.strip()
    if expr.startswith("$"):
        expr = expr[1:]
    if expr.startswith("@"):
        expr = expr[1:]
    steps: list[tuple] = []
    pos = 0
    while pos < len(expr):
        if expr.startswith("[?(", pos):
            end = expr.find(")]", pos)
            if end < 0:
                raise JSONPathError(f"unclosed filter in {expr!r}")
            steps.append(_parse_filter(expr[pos + 3:end]))
            pos = end + 2
            continue
        if expr.startswith("..", pos):
            steps.append(("recursive",))
            pos += 1  # the second dot starts the field that follows
            continue
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise JSONPathError(f"unrecognized character in {expr!r} at {pos}")
        pos = m.end()
        if m.group("dot") is not None:
            if m.group("name"):
                steps.append(("field", m.group("name").replace("\\.", ".")))  # a.b\.c: key "b.c"
            elif pos < len(expr) and expr[pos] not in ".[":
                raise JSONPathError(f"unrecognized character in {expr!r} at {pos}")
            continue
        inner = m.group("bracket")
        if inner == "*":
            steps.append(("all",))
        elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            steps.append(("field", inner[1:-1]))
        elif ":" in inner:
            parts = inner.split(":")
            try:
                bounds = [int(x) if x.strip() else None for x in parts]
            except ValueError:
                raise JSONPathError(f"invalid array index {inner}") from None
            if len(bounds) > 3 or bounds[2:3] == [0]:
                raise JSONPathError(f"invalid array index {inner}")
            steps.append(("slice", *(bounds + [None, None])[:3]))
        else:
            try:
                steps.append(("index", int(inner)))
            except ValueError:
                raise JSONPathError(f"invalid array index {inner}") from None
    return _Path(tuple(steps))


_FILTER = re.compile(r"^\s*(@[^=!<>\s]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


def _parse_filter(text: str) -> tuple:
    m = _FILTER.match(text)
    if not m:
        lhs = text.strip()
        if lhs.startswith("@"):
            return ("filter", _parse_path(lhs), "exists", None)
        raise JSONPathError(f"unsupported filter {text!r}")
    lit_text = m.group(3)
    if lit_text[:1] in "'\"":
        literal: Any = lit_text[1:-1]
    else:
        try:
            literal = json.loads(lit_text)
        except ValueError:
            raise JSONPathError(f"unsupported filter value {lit_text!r}") from None
    return ("filter", _parse_path(m.group(1)), m.group(2), literal)


def _parse(template: str) -> tuple:
    """The template as a tree of _Text, _Path and _Range."""
    stack: list[list] = [[]]
    ranges: list[_Path] = []
    for is_action, text in _split_actions(template):
        if not is_action:
            stack[-1].append(_Text(text))
        elif text.startswith("range "):
            ranges.append(_parse_path(text[6:]))
            stack.append([])
        elif text == "end":
            if not ranges:
                raise JSONPathError("not in range, nothing to end")
            body = stack.pop()
            stack[-1].append(_Range(ranges.pop(), tuple(body)))
        elif len(text) >= 2 and text[0] == text[-1] == '"':
            stack[-1].append(_Text(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])))
        elif text.startswith((".", "[", "$", "@")):
            stack[-1].append(_parse_path(text))
        elif text == "":
            continue
        else:
            raise JSONPathError(f"unrecognized identifier {text.split()[0]}")
    while ranges:  # kubectl closes an open {range} at the end of the template
        body = stack.pop()
        stack[-1].append(_Range(ranges.pop(), tuple(body)))
    return tuple(stack[0])


def _step(values: list, step: tuple) -> list:
    out: list = []
    kind = step[0]
    for v in values:
        if kind == "field":
            if isinstance(v, dict) and step[1] in v:
                out.append(v[step[1]])
        elif kind == "index":
            if isinstance(v, list) and -len(v) <= step[1] < len(v):
                out.append(v[step[1]])
        elif kind == "slice":
            if isinstance(v, list):
                out.extend(v[step[1]:step[2]:step[3]])
        elif kind == "all":
            if isinstance(v, list):
                out.extend(v)
            elif isinstance(v, dict):
                out.extend(v.values())
        elif kind == "recursive":
            out.extend(_containers(v))
        elif kind == "filter":
            items = v if isinstance(v, list) else [v]
            for item in items:
                got = _eval(step[1], item)
                if _matches(got, step[2], step[3]):
                    out.append(item)
    return out


def _containers(v: Any) -> list:
    """``v`` and every map or list below it, depth first (``..``)."""
    if isinstance(v, dict):
        children = [v[k] for k in sorted(v)]
    elif isinstance(v, list):
        children = list(v)
    else:
        return []
    out = [v]
    for c in children:
        out.extend(_containers(c))
    return out


def _matches(got: list, op: str, literal: Any) -> bool:
    if op == "exists":
        return bool(got)
    if not got:  # client-go skips items without the field, whatever the operator
        return False
    v = got[0]
    try:
        return {
            "==": v == literal, "!=": v != literal,
            "<": v < literal, "<=": v <= literal, ">": v > literal, ">=": v >= literal,
        }[op]
    except TypeError:
        return False


def _eval(path: _Path, data: Any) -> list:
    values = [data]
    for step in path.steps:
        values = _step(values, step)
    return values


def _show(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return json.dumps(v, separators=(",", ":"), sort_keys=True)  # Go marshals map keys sorted


def _run(nodes: tuple, data: Any) -> str:
    out = []
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Path):
            out.append(" ".join(_show(v) for v in _eval(node, data)))
        else:
            for item in _eval(node.path, data):
                out.append(_run(node.body, item))
    return "".join(out)


def render(template: str, data: Any) -> str:
    """``template`` applied to ``data``; raises JSONPathError for a template it cannot parse."""
    return _run(_parse(template), data)
