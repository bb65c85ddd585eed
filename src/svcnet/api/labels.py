"""Label selectors and field selectors, as kubectl ``-l``/``--field-selector`` and the API parse them.

Theory of operation
-------------------
Label selectors (k8s.io/apimachinery/pkg/labels/selector.go):

* Syntax: ``<req>{,<req>}`` where a requirement is ``key``, ``!key``, ``key=v``, ``key==v``,
  ``key!=v``, ``key in (a,b)``, ``key notin (a,b)`` (also ``key>5``/``key<5`` numerically).
  The lexer splits on whitespace and the special characters ``=!(),<>``; ``in``/``notin`` are
  keywords only in operator position. ``key in ()`` means the empty value.
* Keys are qualified names, values label values; errors come back as ``ValueError`` with the
  upstream text (``unable to parse requirement: ...``, ``found ',', expected: ...``), which the
  API server turns into 400 BadRequest.
* A selector is the AND of its requirements, sorted by key (stable), rendered canonically by
  ``str()`` (``a=b,c in (x,y),!d``; ``==`` stays ``==``).
* :func:`selector_from_match_labels` is ``labels.SelectorFromSet``: equality on every key; an
  empty or nil map selects everything. For a Service a *nil* ``spec.selector`` means "no
  selector" (no controller-managed endpoints): callers check that before calling this.
* :func:`selector_from_label_selector` is ``metav1.LabelSelectorAsSelector``: nil selects
  nothing, ``{}`` selects everything, ``matchLabels`` + ``matchExpressions``
  (In/NotIn/Exists/DoesNotExist).

Field selectors (k8s.io/apimachinery/pkg/fields/selector.go): ``f=v``, ``f==v``, ``f!=v``,
comma-separated, ``\\``-escapes for ``\\ , =`` in values; a missing field reads as ``""``.
:func:`object_fields` gives each kind's selectable fields (the registries' ``GetAttrs``).

Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from svcnet.api.errors import go_value
from svcnet.api.validation.common import go_slice_repr, is_qualified_name, is_valid_label_value

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "everything",
    "nothing",
    "object_fields",
    "parse_field_selector",
    "parse_label_selector",
    "selectable_fields",
    "selector_from_label_selector",
    "selector_from_match_labels",
]

_BINARY_OPERATORS = ("in", "notin", "=", "==", "!=", "gt", "lt")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement: ``op`` is one of in, notin, =, ==, !=, exists, !, gt, lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        if self.op in ("in", "=", "=="):
            return self.key in labels and labels[self.key] in self.values
        if self.op in ("notin", "!="):
            return self.key not in labels or labels[self.key] not in self.values
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("gt", "lt"):
            if self.key not in labels or len(self.values) != 1:
                return False
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        return False

    def __str__(self) -> str:
        if self.op == "!":
            return "!" + self.key
        if self.op == "exists":
            return self.key
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({vals})"
        sym = {"gt": ">", "lt": "<"}.get(self.op, self.op)
        return f"{self.key}{sym}{vals}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """AND of requirements. ``select_nothing`` is ``labels.Nothing()`` (matches no object)."""

    requirements: tuple[Requirement, ...] = ()
    select_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when it does not restrict the selection (``Selector.Empty``)."""
        return not self.select_nothing and not self.requirements

    def matches(self, labels: dict | None) -> bool:
        if self.select_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def everything() -> LabelSelector:
    return LabelSelector()


def nothing() -> LabelSelector:
    return LabelSelector(select_nothing=True)


def _sorted(reqs: list[Requirement]) -> tuple[Requirement, ...]:
    return tuple(sorted(reqs, key=lambda r: r.key))


# --------------------------------------------------------------------------------------------
# NewRequirement validation


def _field_err(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {go_value(value)}: {detail}"


def _new_requirement(key: str, op: str, values: list[str], path: str | None = None) -> Requirement:
    """``labels.NewRequirement``: raises ValueError with the aggregated field errors."""
    base = "" if path is None else path + "."
    errs: list[str] = []
    msgs = is_qualified_name(key)
    if msgs:
        errs.append(_field_err(base + "key", key, "; ".join(msgs)))
    vpath = base + "values"
    if op in ("in", "notin"):
        if not values:
            errs.append(_field_err(vpath, go_slice_repr(values), "for 'in', 'notin' operators, values set can't be empty"))
    elif op in ("=", "==", "!="):
        if len(values) != 1:
            errs.append(_field_err(vpath, go_slice_repr(values), "exact-match compatibility requires one single value"))
    elif op in ("exists", "!"):
        if values:
            errs.append(_field_err(vpath, go_slice_repr(values), "values set must be empty for exists and does not exist"))
    elif op in ("gt", "lt"):
        if len(values) != 1:
            errs.append(_field_err(vpath, go_slice_repr(values), "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(values):
            try:
                int(v, 10)
            except ValueError:
                errs.append(_field_err(f"{vpath}[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, v in enumerate(values):
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(_field_err(f"{vpath}[{i}][{key}]", v, "; ".join(msgs)))
    if errs:
        seen: list[str] = []
        for e in errs:
            if e not in seen:
                seen.append(e)
        raise ValueError(seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]")
    return Requirement(key, op, tuple(values))


# --------------------------------------------------------------------------------------------
# lexer / parser

_SPECIAL = set("=!(),><")
_WS = set(" \t\r\n")
_TOKENS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "in": "in", "<": "<",
           "!=": "!=", "notin": "notin", "(": "("}
_ID, _EOS, _ERR = "ID", "EOS", "ERR"


def _lex(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, n = 0, len(s)
    while True:
        while pos < n and s[pos] in _WS:
            pos += 1
        if pos >= n:
            out.append((_EOS, ""))
            return out
        if s[pos] in _SPECIAL:
            buf, last = "", None
            while pos < n and s[pos] in _SPECIAL:
                buf += s[pos]
                if buf in _TOKENS:
                    last = buf
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            if last is None:
                out.append((_ERR, f"error expected: keyword found '{buf}'"))
            else:
                out.append((_TOKENS[last], last))
            continue
        start = pos
        while pos < n and s[pos] not in _SPECIAL and s[pos] not in _WS:
            pos += 1
        word = s[start:pos]
        out.append((_TOKENS.get(word, _ID), word))


class _Parser:
    def __init__(self, text: str):
        self.items = _lex(text)
        self.pos = 0

    def _tok(self, i: int, values: bool) -> tuple[str, str]:
        tok, lit = self.items[i]
        if values and tok in ("in", "notin"):
            tok = _ID
        return tok, lit

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        return self._tok(self.pos, values)

    def consume(self, values: bool = True) -> tuple[str, str]:
        self.pos += 1
        return self._tok(self.pos - 1, values)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_ID, "!"):
                try:
                    reqs.append(self.parse_requirement())
                except ValueError as e:
                    raise ValueError(f"unable to parse requirement: {e}") from None
                t, l_ = self.consume()
                if t == _EOS:
                    return reqs
                if t == ",":
                    t2, l2 = self.lookahead()
                    if t2 not in (_ID, "!"):
                        raise ValueError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise ValueError(f"found '{l_}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        op = ""
        tok, lit = self.consume()
        if tok == "!":
            op = "!"
            tok, lit = self.consume()
        if tok != _ID:
            raise ValueError(f"found '{lit}', expected: identifier")
        msgs = is_qualified_name(lit)
        if msgs:
            raise ValueError(_field_err("<nil>", lit, "; ".join(msgs)))
        key = lit
        t, _ = self.lookahead()
        if t in (_EOS, ","):
            if op != "!":
                op = "exists"
        if op in ("exists", "!"):
            return _new_requirement(key, op, [])
        tok, lit = self.consume(values=False)
        ops = {"in": "in", "=": "=", "==": "==", ">": "gt", "<": "lt", "notin": "notin", "!=": "!="}
        if tok not in ops:
            raise ValueError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
        op = ops[tok]
        values = self.parse_values() if op in ("in", "notin") else self.parse_exact_value()
        return _new_requirement(key, op, sorted(values))

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != "(":
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, ","):
            s = self.parse_identifiers_list()
            tok2, _ = self.consume()
            if tok2 != ")":
                raise ValueError(f"found '{lit}', expected: ')'")
            return s
        if tok == ")":
            self.consume()
            return {""}
        raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        s: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                s.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == ",":
                    continue
                if tok2 == ")":
                    return s
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if tok == ",":
                if not s:
                    s.add("")
                tok2, _ = self.lookahead()
                if tok2 == ")":
                    s.add("")
                    return s
                if tok2 == ",":
                    s.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, ","):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse kubectl ``-l`` syntax; raises ValueError with the upstream message."""
    parser = _Parser(text)
    return LabelSelector(_sorted(parser.parse()))


def selector_from_match_labels(match_labels: dict | None) -> LabelSelector:
    """``labels.SelectorFromSet``: equality on all keys; nil or ``{}`` selects everything."""
    if not match_labels:
        return everything()
    return LabelSelector(_sorted([Requirement(str(k), "=", (str(v),)) for k, v in match_labels.items()]))


def selector_from_label_selector(spec: dict | None) -> LabelSelector:
    """``metav1.LabelSelectorAsSelector``: nil -> nothing, ``{}`` -> everything."""
    if spec is None:
        return nothing()
    match_labels = spec.get("matchLabels") or {}
    exprs = spec.get("matchExpressions") or []
    if not match_labels and not exprs:
        return everything()
    reqs = [_new_requirement(str(k), "=", [str(v)]) for k, v in match_labels.items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for e in exprs:
        op = e.get("operator", "")
        if op not in ops:
            raise ValueError(f'"{op}" is not a valid label selector operator')
        reqs.append(_new_requirement(str(e.get("key", "")), ops[op], [str(v) for v in (e.get("values") or [])]))
    return LabelSelector(_sorted(reqs))


# --------------------------------------------------------------------------------------------
# field selectors


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    op: str  # "=" (also for "==") or "!="
    value: str


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: dict[str, str]) -> bool:
        for r in self.requirements:
            have = fields.get(r.field, "")
            if (r.op == "=") != (have == r.value):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(f"{r.field}{r.op}{_escape(r.value)}" for r in self.requirements)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(s: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, c in enumerate(s):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _unescape(s: str) -> str:
    out, in_slash = [], False
    for c in s:
        if in_slash:
            if c in "\\,=":
                out.append(c)
            else:
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            in_slash = False
            continue
        if c == "\\":
            in_slash = True
        elif c in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {c}")
        else:
            out.append(c)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """``fields.ParseSelector``: raises ValueError with the upstream message."""
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if part == "":
            continue
        for i in range(len(part)):
            rest = part[i:]
            op = next((o for o in ("!=", "==", "=") if rest.startswith(o)), None)
            if op is not None:
                lhs, rhs = part[:i], part[i + len(op):]
                break
        else:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
        reqs.append(FieldRequirement(lhs, "!=" if op == "!=" else "=", _unescape(rhs)))
    return FieldSelector(tuple(reqs))


_POD_FIELDS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
)


def _get(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _s(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def object_fields(obj: dict) -> dict[str, str]:
    """The field-selector fields of an object (upstream registries' ``GetAttrs``/``ToSelectableFields``)."""
    kind = obj.get("kind", "")
    meta = obj.get("metadata") or {}
    out = {"metadata.name": _s(meta.get("name"))}
    if kind not in ("Node", "Namespace"):
        out["metadata.namespace"] = _s(meta.get("namespace"))
    if kind == "Pod":
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        out.update({
            "spec.nodeName": _s(spec.get("nodeName")),
            "spec.restartPolicy": _s(spec.get("restartPolicy")),
            "spec.schedulerName": _s(spec.get("schedulerName")),
            "spec.serviceAccountName": _s(spec.get("serviceAccountName")),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": _s(status.get("phase")),
            "status.nominatedNodeName": _s(status.get("nominatedNodeName")),
        })
        ips = status.get("podIPs") or []
        out["status.podIP"] = _s((ips[0] or {}).get("ip")) if ips else _s(status.get("podIP"))
    elif kind == "Node":
        out["spec.unschedulable"] = "true" if _get(obj, "spec", "unschedulable") else "false"
    elif kind == "Namespace":
        out["status.phase"] = _s(_get(obj, "status", "phase"))
        out["name"] = _s(meta.get("name"))  # upstream keeps this for backward compatibility
    elif kind == "ReplicaSet":
        out["status.replicas"] = _s(_get(obj, "status", "replicas") or 0)
    elif kind == "Event":
        inv = obj.get("involvedObject") or {}
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            out[f"involvedObject.{f}"] = _s(inv.get(f))
        out["reason"] = _s(obj.get("reason"))
        out["reportingComponent"] = _s(obj.get("reportingComponent"))
        src = _s(_get(obj, "source", "component")) or _s(obj.get("reportingComponent"))
        out["source"] = src
        out["type"] = _s(obj.get("type"))
    return out


def selectable_fields(api_version: str, kind: str) -> frozenset[str]:
    """The field names :func:`object_fields` produces for a kind (to reject unknown ones with
    ``field label not supported: <name>``)."""
    return frozenset(object_fields({"apiVersion": api_version, "kind": kind}))
