"""Field errors and API errors, rendered exactly as Kubernetes renders them.

Theory of operation
-------------------
Validation returns a list of :class:`FieldError` (never raises). The request pipeline turns a
non-empty list into :class:`Invalid`, whose ``status`` is the Kubernetes ``Status`` object a
kube-apiserver would return (HTTP 422). Every other failure a caller can see is an
:class:`APIError` subclass carrying its ``Status``; the HTTP edge sends ``err.status`` as the
body and ``err.code`` as the status code, the HTTP client turns such a body back into the same
subclass (:func:`from_status`). So in-process and HTTP callers see the same errors.

Error tree::

    SvcnetError
     └── APIError                (.status: a Status dict, .code: HTTP code)
          ├── BadRequest         400
          ├── Unauthorized       401
          ├── Forbidden          403
          ├── NotFound           404
          ├── MethodNotAllowed   405
          ├── AlreadyExists      409  reason AlreadyExists
          ├── Conflict           409  reason Conflict (stale resourceVersion)
          ├── Expired            410  reason Expired (watch/list from a compacted version)
          ├── UnsupportedMediaType 415
          ├── Invalid            422  reason Invalid (field errors in details.causes)
          ├── InternalError      500
          └── ServiceUnavailable 503

Rendering rules (k8s.io/apimachinery/pkg/util/validation/field/errors.go):
``<path>: <Type>[: <value>][: <detail>]``; Required, Forbidden, TooLong and Internal never print
the value; strings print as Go ``%q``, ints and bools plain, ``None`` as ``null``, string lists
as ``[]string{"a", "b"}``.

Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "APIError",
    "AlreadyExists",
    "BadRequest",
    "Conflict",
    "Expired",
    "FieldError",
    "Forbidden",
    "GoRepr",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "ServiceUnavailable",
    "SvcnetError",
    "Unauthorized",
    "UnsupportedMediaType",
    "aggregate_message",
    "duplicate",
    "forbidden",
    "from_status",
    "go_quote",
    "go_value",
    "internal",
    "invalid",
    "not_found",
    "not_supported",
    "qualified_kind",
    "required",
    "too_long",
    "too_many",
]


# --------------------------------------------------------------------------------------------
# Go value formatting


def go_quote(s: str) -> str:
    """Go's ``%q`` for a string: double quotes, Go escapes, printable UTF-8 kept as is."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class GoRepr:
    """A value that is already rendered the way Go would print it (e.g. a ``%#v`` struct)."""

    text: str


def go_value(value: Any) -> str:
    """Render a bad value the way field.Error does (``%q``/``%d``/``%v``/``%#v``)."""
    if isinstance(value, GoRepr):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "[]int{" + ", ".join(str(v) for v in value) + "}"
        return "[]interface {}{" + ", ".join(go_value(v) for v in value) + "}"
    if isinstance(value, dict):
        if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            body = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
            return "map[string]string{" + body + "}"
        return json.dumps(value, sort_keys=True)
    return str(value)


# --------------------------------------------------------------------------------------------
# Field errors

# ErrorType -> (text, Status cause reason, prints the bad value)
_TYPES: dict[str, tuple[str, str, bool]] = {
    "NotFound": ("Not found", "FieldValueNotFound", True),
    "Required": ("Required value", "FieldValueRequired", False),
    "Duplicate": ("Duplicate value", "FieldValueDuplicate", True),
    "Invalid": ("Invalid value", "FieldValueInvalid", True),
    "NotSupported": ("Unsupported value", "FieldValueNotSupported", True),
    "Forbidden": ("Forbidden", "FieldValueForbidden", False),
    "TooLong": ("Too long", "FieldValueTooLong", False),
    "TooMany": ("Too many", "FieldValueTooMany", True),
    "Internal": ("Internal error", "InternalError", False),
}

_OMIT = object()


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error at a field path, e.g. ``spec.ports[0].port``."""

    type: str
    field: str
    bad_value: Any = _OMIT
    detail: str = ""
    #: the whole body as received from a server (set only by :func:`from_status`)
    rendered: str = ""

    def body(self) -> str:
        """The error without its path (``ErrorBody`` upstream; the Status cause message)."""
        if self.rendered:
            return self.rendered
        text, _reason, prints_value = _TYPES[self.type]
        s = text
        if prints_value and self.bad_value is not _OMIT:
            s = f"{text}: {go_value(self.bad_value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    @property
    def reason(self) -> str:
        return _TYPES[self.type][1]

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.body(), "field": self.field}


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("Required", path, _OMIT, detail)


def forbidden(path: str, detail: str = "") -> FieldError:
    return FieldError("Forbidden", path, _OMIT, detail)


def invalid(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("Invalid", path, value, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("Duplicate", path, value)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError("NotFound", path, value)


def not_supported(path: str, value: Any, supported: list[str] | tuple[str, ...]) -> FieldError:
    """``Unsupported value: "X": supported values: "A", "B"`` with the list sorted."""
    detail = ""
    if supported:
        detail = "supported values: " + ", ".join(go_quote(s) for s in sorted(supported))
    return FieldError("NotSupported", path, value, detail)


def too_long(path: str, max_length: int) -> FieldError:
    return FieldError("TooLong", path, _OMIT, f"may not be more than {max_length} bytes")


def too_many(path: str, actual: int, max_items: int) -> FieldError:
    return FieldError("TooMany", path, actual, f"must have at most {max_items} items")


def internal(path: str, detail: str) -> FieldError:
    return FieldError("Internal", path, _OMIT, detail)


def aggregate_message(errs: list[FieldError]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or ``[a, b]`` with exact repeats removed."""
    seen: list[str] = []
    for e in errs:
        s = str(e)
        if s not in seen:
            seen.append(s)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def qualified_kind(kind: str, group: str) -> str:
    """``schema.GroupKind.String()``: ``Service`` or ``EndpointSlice.discovery.k8s.io``."""
    return f"{kind}.{group}" if group else kind


# --------------------------------------------------------------------------------------------
# API errors (Kubernetes Status objects)


class SvcnetError(Exception):
    """Root of every error svcnet raises on purpose."""


def _status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    st: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        st["details"] = details
    return st


class APIError(SvcnetError):
    """An error with a Kubernetes ``Status`` body; ``code`` is the HTTP status code."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str = "", *, status: dict | None = None, details: dict | None = None):
        if status is None:
            status = _status(self.code, self.reason, message, details)
        self.status = status
        super().__init__(status.get("message", message))

    @property
    def message(self) -> str:
        return self.status.get("message", "")


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"

    @classmethod
    def of(cls, resource: str, name: str, group: str = "") -> "NotFound":
        """``services "web" not found`` with details {name, kind: services}."""
        gr = f"{resource}.{group}" if group else resource
        details = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        return cls(f"{gr} {go_quote(name)} not found", details=details)


class MethodNotAllowed(APIError):
    code, reason = 405, "MethodNotAllowed"


class AlreadyExists(APIError):
    code, reason = 409, "AlreadyExists"

    @classmethod
    def of(cls, resource: str, name: str, group: str = "") -> "AlreadyExists":
        gr = f"{resource}.{group}" if group else resource
        details = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        return cls(f"{gr} {go_quote(name)} already exists", details=details)


class Conflict(APIError):
    code, reason = 409, "Conflict"

    @classmethod
    def stale(cls, resource: str, name: str, group: str = "") -> "Conflict":
        gr = f"{resource}.{group}" if group else resource
        details = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        return cls(
            f"Operation cannot be fulfilled on {gr} {go_quote(name)}: the object has been "
            "modified; please apply your changes to the latest version and try again",
            details=details,
        )


class Expired(APIError):
    code, reason = 410, "Expired"

    @classmethod
    def too_old(cls, requested: int, oldest: int) -> "Expired":
        return cls(f"too old resource version: {requested} ({oldest})")


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    code, reason = 422, "Invalid"

    def __init__(
        self,
        kind: str,
        name: str,
        errors: list[FieldError],
        *,
        group: str = "",
        status: dict | None = None,
    ):
        self.errors = list(errors)
        if status is None:
            status = _status(
                422,
                "Invalid",
                f"{qualified_kind(kind, group)} {go_quote(name)} is invalid: "
                f"{aggregate_message(self.errors)}",
                {
                    "name": name,
                    "group": group,
                    "kind": kind,
                    "causes": [e.cause() for e in self.errors],
                },
            )
            if not group:
                del status["details"]["group"]
        super().__init__(status=status)


class InternalError(APIError):
    code, reason = 500, "InternalError"

    @classmethod
    def of(cls, detail: str) -> "InternalError":
        return cls(f"Internal error occurred: {detail}", details={"causes": [{"message": detail}]})


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"


_BY_REASON: dict[str, type[APIError]] = {
    c.reason: c
    for c in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        AlreadyExists,
        Conflict,
        Expired,
        UnsupportedMediaType,
        InternalError,
        ServiceUnavailable,
    )
}
_BY_CODE: dict[int, type[APIError]] = {c.code: c for c in reversed(list(_BY_REASON.values()))}


def from_status(status: dict, http_code: int | None = None) -> APIError:
    """Turn a ``Status`` body (from the HTTP API) back into the matching error class."""
    reason = status.get("reason", "")
    code = status.get("code") or http_code or 500
    if reason == "Invalid":
        d = status.get("details") or {}
        errs = [
            FieldError(
                _reason_to_type(c.get("reason", "")),
                c.get("field", ""),
                rendered=c.get("message", ""),
            )
            for c in d.get("causes", [])
        ]
        return Invalid(d.get("kind", ""), d.get("name", ""), errs, group=d.get("group", ""), status=status)
    if reason == "Gone":
        return Expired(status=status)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or APIError
    err = cls(status=status)
    return err


def _reason_to_type(reason: str) -> str:
    for t, (_text, r, _pv) in _TYPES.items():
        if r == reason:
            return t
    return "Invalid"
