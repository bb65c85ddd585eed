"""Building blocks of validation: name formats, label rules, IP and CIDR parsing, field helpers.

Theory of operation
-------------------
Two layers, both pure and both copied in *behaviour* (not code) from upstream:

1. ``is_*`` predicates return a ``list[str]`` of detail messages, empty when the value is valid,
   exactly like ``k8s.io/apimachinery/pkg/util/validation/validation.go`` (``IsDNS1123Label``,
   ``IsQualifiedName``, ``IsValidPortName`` ...). One value can fail several checks, so several
   messages can come back, in upstream order.
2. ``validate_*`` helpers turn those messages into :class:`~svcnet.api.errors.FieldError` lists at
   a field path, the way the ``Validate*`` wrappers in ``pkg/apis/core/validation`` do.

Rules that matter for byte-exact messages:

* Regexes are anchored at both ends (Go ``^...$`` without the multi-line flag, i.e. Python
  ``re.fullmatch``); lengths are *byte* lengths (Go ``len``).
* ``RegexError`` appends ``', '`` after each example and ``' or '`` between examples, hence the
  upstream quirk of two spaces before ``or``: ``(e.g. 'my-name',  or '123-abc', regex ...)``.
* IPs are parsed like ``netutils.ParseIPSloppy``: dotted IPv4 with leading zeros allowed (decimal),
  IPv6 without zone; an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) *is* IPv4 (Go ``To4``).
  CIDRs like ``ParseCIDRSloppy``: the host part may have bits set (``10.0.0.1/8`` is valid).
* Messages for qualified names and label values use the long-standing wording of
  ``IsQualifiedName``/``IsValidLabelValue`` ("a qualified name ...", "... 63 characters").
  Releases from 1.34 moved these to ``api/validate/content`` and started saying "bytes"; we
  keep the wording the reference (``service-api.md`` §0.3) documents.

Upstream: staging/src/k8s.io/apimachinery/pkg/util/validation/{validation.go,ip.go},
staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go,
staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go,
pkg/apis/core/validation/validation.go (ValidateNonSpecialIP, ValidatePortNumOrName).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from svcnet.api.errors import FieldError, GoRepr, go_quote, invalid, too_long

__all__ = [
    "DNS1035_LABEL_MAX",
    "DNS1123_LABEL_MAX",
    "DNS1123_SUBDOMAIN_MAX",
    "IPAddress",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "ValidationOptions",
    "child",
    "empty_error",
    "go_bool",
    "go_map_repr",
    "go_slice_repr",
    "inclusive_range_error",
    "index",
    "ip_family",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_dual_stack_ips",
    "is_ipv6_string",
    "is_qualified_name",
    "is_valid_label_value",
    "is_valid_percent",
    "is_valid_port_name",
    "is_valid_port_num",
    "key",
    "max_len_error",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "parse_cidr_sloppy",
    "parse_ip_sloppy",
    "regex_error",
    "validate_annotations",
    "validate_cidr",
    "validate_dns1123_label",
    "validate_dns1123_subdomain",
    "validate_ip",
    "validate_ipv4_address",
    "validate_ipv6_address",
    "validate_label_name",
    "validate_label_selector",
    "validate_labels",
    "validate_non_special_ip",
    "validate_nonnegative",
    "validate_port_num_or_name",
    "validate_qualified_name",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationOptions:
    """Knobs where svcnet deliberately differs from upstream (defaults documented per field).

    ``allow_loopback_endpoints``: upstream rejects loopback addresses in EndpointSlice and
    Endpoints addresses (``may not be in the loopback range``). svcnet's *local* mode gives
    every pod its own address in 127.244.0.0/16, so the default allows them; pass ``False``
    for byte-exact upstream behaviour (lab/cluster mode). ``spec.externalIPs`` are always
    checked strictly (service-api.md vector 7.19).
    """

    allow_loopback_endpoints: bool = True

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
_QUALIFIED_NAME_MAX = 63
_LABEL_VALUE_MAX = 63
#: ObjectMeta: total size of annotation keys and values (256 kB)
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)

# --------------------------------------------------------------------------------------------
# Field paths (field.Path.String()): "spec" + ".ports" + "[0]" + ".name"


def child(path: str, name: str) -> str:
    """``path.Child(name)``."""
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    """``path.Index(i)``."""
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    """``path.Key(k)``: keys are printed raw, not quoted."""
    return f"{path}[{k}]"


# --------------------------------------------------------------------------------------------
# Message builders (validation.go)


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """``RegexError``: note the two spaces before ``or`` (``', '`` then ``' or '``)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i > 0:
            out += " or "
        out += f"'{ex}', "
    return out + f"regex used for validation is '{fmt}')"


def _blen(s: str) -> int:
    return len(s.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Name formats

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_PERCENT_FMT = "[0-9]+%"

_RE_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT, re.ASCII)
_RE_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT, re.ASCII)
_RE_DNS1035_LABEL = re.compile(_DNS1035_LABEL_FMT, re.ASCII)
_RE_QNAME = re.compile(_QNAME_FMT, re.ASCII)
_RE_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT, re.ASCII)
_RE_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+", re.ASCII)
_RE_PORT_NAME_LETTER = re.compile("[a-z]", re.ASCII)
_RE_PERCENT = re.compile(_PERCENT_FMT, re.ASCII)


def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``; a valid subdomain with dots gets ``must not contain dots``."""
    errs: list[str] = []
    if _blen(value) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _RE_DNS1123_LABEL.fullmatch(value):
        if _RE_DNS1123_SUBDOMAIN.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _RE_DNS1123_SUBDOMAIN.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs: list[str] = []
    if _blen(value) > DNS1035_LABEL_MAX:
        errs.append(max_len_error(DNS1035_LABEL_MAX))
    if not _RE_DNS1035_LABEL.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """``IsQualifiedName`` (label keys, annotation keys, appProtocol, loadBalancerClass)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _blen(name) > _QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(_QUALIFIED_NAME_MAX))
    if not _RE_QNAME.fullmatch(name):
        errs.append("name part " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if _blen(value) > _LABEL_VALUE_MAX:
        errs.append(max_len_error(_LABEL_VALUE_MAX))
    if not _RE_LABEL_VALUE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_valid_port_num(port: Any) -> list[str]:
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    """``IsValidPortName`` (IANA_SVC_NAME): one message per failed check."""
    errs: list[str] = []
    if _blen(port) > 15:
        errs.append(max_len_error(15))
    if not _RE_PORT_NAME_CHARSET.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _RE_PORT_NAME_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_percent(percent: str) -> list[str]:
    if not _RE_PERCENT.fullmatch(percent):
        return [
            regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'",
                _PERCENT_FMT,
                "1%",
                "93%",
            )
        ]
    return []


# Name functions (ValidateNameFunc): prefix=True validates a generateName, where a trailing
# dash is allowed (maskTrailingDash replaces it with 'a' before checking).


def _mask_trailing_dash(name: str) -> str:
    if len(name) > 1 and name.endswith("-"):
        return name[:-1] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


# --------------------------------------------------------------------------------------------
# IP addresses (netutils.ParseIPSloppy / ParseCIDRSloppy)

_RE_IPV4_SLOPPY = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)", re.ASCII)


def parse_ip_sloppy(value: Any) -> IPAddress | None:
    """Go ``net.ParseIP`` with leading zeros allowed in IPv4; None if invalid.

    IPv4-mapped IPv6 addresses come back as IPv4, as Go's ``To4()`` treats them.
    """
    if not isinstance(value, str) or not value:
        return None
    if ":" not in value:
        m = _RE_IPV4_SLOPPY.fullmatch(value)
        if not m:
            return None
        octets = [int(g) for g in m.groups()]
        if any(o > 255 for o in octets):
            return None
        return ipaddress.IPv4Address(".".join(str(o) for o in octets))
    if "%" in value or not value.isascii():
        return None  # zones are not accepted by ParseIP
    try:
        ip6 = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    return ip6.ipv4_mapped or ip6


def parse_cidr_sloppy(value: Any) -> tuple[IPAddress, int] | None:
    """Go ``net.ParseCIDR`` (sloppy IPv4): ``(ip, prefix_len)`` or None; host bits may be set."""
    if not isinstance(value, str) or "/" not in value:
        return None
    addr, mask = value.split("/", 1)
    if not mask or not mask.isdigit() or not mask.isascii():
        return None
    if ":" not in addr:
        ip = parse_ip_sloppy(addr)
        bits = 32
    else:
        ip = parse_ip_sloppy(addr)
        bits = 128
    if ip is None:
        return None
    n = int(mask)
    if n > bits:
        return None
    return ip, n


def ip_family(value: str) -> str | None:
    """``"IPv4"``/``"IPv6"`` for a parseable IP, else None."""
    ip = parse_ip_sloppy(value)
    if ip is None:
        return None
    return "IPv4" if ip.version == 4 else "IPv6"


def is_ipv6_string(value: str) -> bool:
    """``netutils.IsIPv6String``."""
    ip = parse_ip_sloppy(value)
    return ip is not None and ip.version == 6


def is_dual_stack_ips(values: list[str]) -> bool:
    """``netutils.IsDualStackIPStrings``: at least one IPv4 and one IPv6 (all must parse)."""
    v4 = v6 = False
    for v in values:
        ip = parse_ip_sloppy(v)
        if ip is None:
            return False
        if ip.version == 6:
            v6 = True
        else:
            v4 = True
    return v4 and v6


def validate_ip(path: str, value: Any) -> list[FieldError]:
    """``IsValidIP``."""
    if parse_ip_sloppy(value) is None:
        return [invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def validate_ipv4_address(path: str, value: Any) -> list[FieldError]:
    ip = parse_ip_sloppy(value)
    if ip is None or ip.version != 4:
        return [invalid(path, value, "must be a valid IPv4 address")]
    return []


def validate_ipv6_address(path: str, value: Any) -> list[FieldError]:
    ip = parse_ip_sloppy(value)
    if ip is None or ip.version != 6:
        return [invalid(path, value, "must be a valid IPv6 address")]
    return []


def validate_cidr(path: str, value: Any) -> list[FieldError]:
    """``IsValidCIDR``."""
    if parse_cidr_sloppy(value) is None:
        return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


def _is_link_local_multicast(ip: IPAddress) -> bool:
    # Go: IPv4 224.0.0.0/24; IPv6 ff02::/16 (second byte's low nibble == 2 with flags 0)
    if ip.version == 4:
        return ip in ipaddress.IPv4Network("224.0.0.0/24")
    packed = ip.packed
    return packed[0] == 0xFF and (packed[1] & 0x0F) == 0x02


def validate_non_special_ip(
    value: Any, path: str, *, allow_loopback: bool = False
) -> list[FieldError]:
    """``ValidateNonSpecialIP``: no unspecified, loopback, link-local or link-local multicast IP.

    ``allow_loopback`` exists for svcnet's local mode, where pods live on 127.244.0.0/16
    (see :class:`svcnet.api.validation.ValidationOptions`).
    """
    ip = parse_ip_sloppy(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    errs: list[FieldError] = []
    if ip.is_unspecified:
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback and not allow_loopback:
        errs.append(invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local:
        errs.append(invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if _is_link_local_multicast(ip):
        errs.append(
            invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        )
    return errs


# --------------------------------------------------------------------------------------------
# FieldError wrappers


def validate_dns1123_label(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_label(value)]


def validate_dns1123_subdomain(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_subdomain(value)]


def validate_qualified_name(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_qualified_name(value)]


def validate_label_name(name: str, path: str) -> list[FieldError]:
    return [invalid(path, name, m) for m in is_qualified_name(name)]


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """``ValidateLabels``: errors sit at the map's path, not ``[key]`` (upstream behaviour).

    Go iterates the map in random order; we use sorted key order so results are stable.
    """
    if not labels:
        return []
    if not isinstance(labels, dict):
        return [invalid(path, labels, "must be a map of string keys to string values")]
    errs: list[FieldError] = []
    for k in sorted(labels):
        v = labels[k]
        errs.extend(validate_label_name(str(k), path))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        errs.extend(invalid(path, v, m) for m in is_valid_label_value(v))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """``ValidateAnnotations``: keys are qualified names (case-insensitive); total <= 256 kB."""
    if not annotations:
        return []
    if not isinstance(annotations, dict):
        return [invalid(path, annotations, "must be a map of string keys to string values")]
    errs: list[FieldError] = []
    total = 0
    for k in sorted(annotations):
        errs.extend(invalid(path, k, m) for m in is_qualified_name(str(k).lower()))
        v = annotations[k]
        total += _blen(str(k)) + (_blen(v) if isinstance(v, str) else 0)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """``ValidateLabelSelector`` (metav1.LabelSelector: matchLabels + matchExpressions)."""
    if selector is None:
        return []
    errs = validate_labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        p = index(child(path, "matchExpressions"), i)
        op = expr.get("operator", "")
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    FieldError(
                        "Required", child(p, "values"), detail="must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    FieldError(
                        "Forbidden",
                        child(p, "values"),
                        detail="may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(invalid(child(p, "operator"), op, "not a valid selector operator"))
        errs.extend(validate_label_name(expr.get("key", ""), child(p, "key")))
        for vi, v in enumerate(values):
            errs.extend(invalid(index(child(p, "values"), vi), v, m) for m in is_valid_label_value(str(v)))
    return errs


def validate_nonnegative(value: Any, path: str) -> list[FieldError]:
    """``ValidateNonnegativeField``."""
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def validate_port_num_or_name(port: Any, path: str) -> list[FieldError]:
    """``ValidatePortNumOrName`` (an IntOrString): ints 1-65535, strings IANA_SVC_NAME."""
    if isinstance(port, bool):
        return [FieldError("Internal", path, detail=f"unknown type: {go_bool(port)}")]
    if isinstance(port, int):
        return [invalid(path, port, m) for m in is_valid_port_num(port)]
    if isinstance(port, str):
        return [invalid(path, port, m) for m in is_valid_port_name(port)]
    return [FieldError("Internal", path, detail=f"unknown type: {port!r}")]


# --------------------------------------------------------------------------------------------
# Go %#v helpers for bad values that are not plain strings/ints


def go_bool(b: bool) -> str:
    return "true" if b else "false"


def go_slice_repr(values: list[str] | None, type_name: str = "[]string") -> GoRepr:
    """``[]string{"a", "b"}``; a missing (nil) slice prints as ``[]string(nil)``."""
    if values is None:
        return GoRepr(f"{type_name}(nil)")
    return GoRepr(type_name + "{" + ", ".join(go_quote(str(v)) for v in values) + "}")


def go_map_repr(m: dict | None) -> GoRepr:
    """``map[string]string{"a":"b"}`` (Go prints map keys sorted); nil as ``map[string]string(nil)``."""
    if m is None:
        return GoRepr("map[string]string(nil)")
    body = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in sorted(m.items()))
    return GoRepr("map[string]string{" + body + "}")
