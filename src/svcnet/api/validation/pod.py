"""Pod and pod-template validation: the rules that matter for networking and for our kubelet.

Theory of operation
-------------------
Mirrors ``ValidatePodCreate`` / ``ValidatePodUpdate`` / ``ValidatePodStatusUpdate`` and
``ValidatePodTemplateSpec`` for the fields svcnet uses; everything else in a PodSpec (volume
sources, security contexts, affinity, resources ...) is accepted as-is. In upstream order:

* metadata (names are DNS-1123 subdomains);
* spec: ``terminationGracePeriodSeconds`` required (defaulting sets 30); volume names;
  containers (``Required value`` when empty) - name (DNS-1123 label, unique across containers and
  init containers), image, terminationMessagePolicy, ports (name IANA_SVC_NAME and unique,
  containerPort 1-65535 and required, hostPort range, protocol), env names, imagePullPolicy,
  probes (exactly one handler, non-negative numbers, liveness/startup ``successThreshold`` must be
  1), ``restartPolicy`` only on init containers, host-port conflicts; then hostNetwork ports,
  restartPolicy, dnsPolicy, nodeSelector, serviceAccountName, nodeName, activeDeadlineSeconds,
  hostname/subdomain (DNS-1123 labels), dnsConfig;
* update: only images, activeDeadlineSeconds, tolerations (additions) and a negative grace period
  -> 1 may change; anything else is ``spec: Forbidden: pod updates may not change fields other
  than ...``. Upstream appends a ``cmp.Diff`` of the specs to that message; we append a short,
  stable list of the changed top-level spec fields instead (a deliberate difference).
* status update: ``status.nodeName`` quirk when ``spec.nodeName`` differs, podIPs/hostIPs (valid
  IPs, at most one per family, no duplicates), nominatedNodeName.

``status.podIP``/``podIPs`` are read the way v1->internal conversion does: ``podIP`` is
authoritative when both are given and differ; ``podIP`` alone means ``podIPs = [podIP]``.

Upstream: pkg/apis/core/validation/validation.go (ValidatePodSpec, validateContainers,
validateContainerPorts, validateProbe, validateHandler, ValidatePodUpdate, ValidatePodStatusUpdate,
validatePodIPs, validateHostIPs, ValidatePodTemplateSpec).
"""

from __future__ import annotations

import re
from typing import Any

from svcnet.api.errors import FieldError, GoRepr, duplicate, forbidden, go_quote, invalid, not_supported, required
from svcnet.api.validation.common import (
    child,
    inclusive_range_error,
    index,
    is_dual_stack_ips,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
    regex_error,
    validate_annotations,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_ip,
    validate_labels,
    validate_nonnegative,
    validate_port_num_or_name,
)
from svcnet.api.validation.meta import validate_object_meta, validate_object_meta_update

__all__ = [
    "effective_pod_ips",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_status_update",
    "validate_pod_template_spec",
    "validate_pod_update",
]

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
_HTTP_SCHEMES = ("HTTP", "HTTPS")
_ENV_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_RE_ENV_NAME = re.compile(_ENV_NAME_FMT, re.ASCII)
_RE_HEADER_NAME = re.compile("[-A-Za-z0-9]+", re.ASCII)
_MAX_INT32 = 2**31 - 1
_UPDATABLE_FIELDS = ",".join(
    [
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    ]
)


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


# --------------------------------------------------------------------------------------------
# containers


def _validate_container_ports(ports: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        port = _d(port)
        p = index(path, i)
        name = port.get("name") or ""
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs.extend(invalid(child(p, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(child(p, "name"), name))
            else:
                names.add(name)
        cp = port.get("containerPort") or 0
        if not cp:
            errs.append(required(child(p, "containerPort")))
        else:
            errs.extend(invalid(child(p, "containerPort"), cp, m) for m in is_valid_port_num(cp))
        hp = port.get("hostPort") or 0
        if hp:
            errs.extend(invalid(child(p, "hostPort"), hp, m) for m in is_valid_port_num(hp))
        proto = port.get("protocol") or ""
        if not proto:
            errs.append(required(child(p, "protocol")))
        elif proto not in _PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), proto, _PROTOCOLS))
    return errs


def _validate_env(env: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ev in enumerate(env):
        ev = _d(ev)
        p = child(index(path, i), "name")
        name = ev.get("name") or ""
        if not name:
            errs.append(required(p))
            continue
        if not _RE_ENV_NAME.fullmatch(name):
            errs.append(
                invalid(
                    p,
                    name,
                    regex_error(
                        "a valid environment variable name must consist of alphabetic characters, digits, "
                        "'_', '-', or '.', and must not start with a digit",
                        _ENV_NAME_FMT,
                        "my.env-name",
                        "MY_ENV.NAME",
                        "MyEnvName1",
                    ),
                )
            )
        if name == ".":
            errs.append(invalid(p, name, "must not be '.'"))
        elif name == "..":
            errs.append(invalid(p, name, "must not be '..'"))
        elif name.startswith(".."):
            errs.append(invalid(p, name, "must not start with '..'"))
    return errs


def _validate_handler(h: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        action = h.get(kind)
        if action is None:
            continue
        if count > 0:
            errs.append(forbidden(child(path, kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        action = _d(action)
        ap = child(path, kind)
        if kind == "exec":
            if not action.get("command"):
                errs.append(required(child(ap, "command")))
        elif kind == "httpGet":
            if not action.get("path"):
                errs.append(required(child(ap, "path")))
            errs.extend(validate_port_num_or_name(action.get("port", 0), child(ap, "port")))
            scheme = action.get("scheme") or ""
            if scheme not in _HTTP_SCHEMES:
                errs.append(not_supported(child(ap, "scheme"), scheme, _HTTP_SCHEMES))
            for hdr in _l(action.get("httpHeaders")):
                name = _d(hdr).get("name") or ""
                if not _RE_HEADER_NAME.fullmatch(name):
                    errs.append(
                        invalid(
                            child(ap, "httpHeaders"),
                            name,
                            regex_error(
                                "a valid HTTP header must consist of alphanumeric characters or '-'",
                                "[-A-Za-z0-9]+",
                                "X-Header-Name",
                            ),
                        )
                    )
        elif kind == "tcpSocket":
            errs.extend(validate_port_num_or_name(action.get("port", 0), child(ap, "port")))
        elif kind == "grpc":
            errs.extend(validate_port_num_or_name(action.get("port", 0), child(ap, "port")))
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _validate_probe(probe: Any, path: str, kind: str) -> list[FieldError]:
    if probe is None:
        return []
    probe = _d(probe)
    errs = _validate_handler(probe, path)
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs.extend(validate_nonnegative(probe.get(f, 0), child(path, f)))
    tgp = probe.get("terminationGracePeriodSeconds")
    if tgp is not None and tgp <= 0:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), tgp, "must be greater than 0"))
    if kind in ("liveness", "startup") and probe.get("successThreshold", 0) != 1:
        errs.append(invalid(child(path, "successThreshold"), probe.get("successThreshold", 0), "must be 1"))
    if kind == "readiness" and tgp is not None:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), tgp, "must not be set for readinessProbes"))
    return errs


def _validate_container_common(c: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name") or ""
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
    if not c.get("image"):
        errs.append(required(child(path, "image")))
    tmp = c.get("terminationMessagePolicy") or ""
    if not tmp:
        errs.append(required(child(path, "terminationMessagePolicy")))
    elif tmp not in _TERMINATION_MESSAGE_POLICIES:
        errs.append(_not_supported_unsorted(child(path, "terminationMessagePolicy"), tmp, _TERMINATION_MESSAGE_POLICIES))
    errs.extend(_validate_container_ports(_l(c.get("ports")), child(path, "ports")))
    errs.extend(_validate_env(_l(c.get("env")), child(path, "env")))
    ipp = c.get("imagePullPolicy") or ""
    if not ipp:
        errs.append(required(child(path, "imagePullPolicy")))
    elif ipp not in _PULL_POLICIES:
        errs.append(not_supported(child(path, "imagePullPolicy"), ipp, _PULL_POLICIES))
    return errs


def _host_port_conflicts(containers: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(_l(_d(c).get("ports"))):
            port = _d(port)
            hp = port.get("hostPort") or 0
            if not hp:
                continue
            s = f"{port.get('protocol') or ''}/{port.get('hostIP') or ''}/{hp}"
            if s in seen:
                errs.append(duplicate(child(index(child(index(path, ci), "ports"), pi), "hostPort"), s))
            else:
                seen.add(s)
    return errs


def _validate_containers(containers: list, path: str) -> list[FieldError]:
    if not containers:
        return [required(path)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, c in enumerate(containers):
        c = _d(c)
        p = index(path, i)
        errs.extend(_validate_container_common(c, p))
        name = c.get("name") or ""
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        else:
            names.add(name)
        errs.extend(_validate_probe(c.get("livenessProbe"), child(p, "livenessProbe"), "liveness"))
        errs.extend(_validate_probe(c.get("readinessProbe"), child(p, "readinessProbe"), "readiness"))
        errs.extend(_validate_probe(c.get("startupProbe"), child(p, "startupProbe"), "startup"))
        if c.get("restartPolicy") is not None:
            errs.append(forbidden(child(p, "restartPolicy"), "may not be set for non-init containers"))
    errs.extend(_host_port_conflicts(containers, path))
    return errs


def _validate_init_containers(inits: list, regular: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names = {(_d(c).get("name") or "") for c in regular}
    for i, c in enumerate(inits):
        c = _d(c)
        p = index(path, i)
        errs.extend(_validate_container_common(c, p))
        rp = c.get("restartPolicy")
        always = False
        if rp is not None:
            if rp != "Always":
                errs.append(not_supported(child(p, "restartPolicy"), rp, ["Always"]))
            always = rp == "Always"
        name = c.get("name") or ""
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        elif name:
            names.add(name)
        errs.extend(_host_port_conflicts([c], path))
        if always:
            errs.extend(_validate_probe(c.get("livenessProbe"), child(p, "livenessProbe"), "liveness"))
            errs.extend(_validate_probe(c.get("readinessProbe"), child(p, "readinessProbe"), "readiness"))
            errs.extend(_validate_probe(c.get("startupProbe"), child(p, "startupProbe"), "startup"))
        else:
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if c.get(f) is not None:
                    errs.append(forbidden(child(p, f), "may not be set for init containers without restartPolicy=Always"))
    return errs


# --------------------------------------------------------------------------------------------
# pod spec


def validate_pod_spec(spec: Any, path: str = "spec", *, is_pod: bool = True) -> list[FieldError]:
    """``ValidatePodSpec`` for the fields svcnet cares about."""
    spec = _d(spec)
    errs: list[FieldError] = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errs.append(required(child(path, "terminationGracePeriodSeconds")))
    vol_names: set[str] = set()
    for i, vol in enumerate(_l(spec.get("volumes"))):
        p = child(index(child(path, "volumes"), i), "name")
        name = _d(vol).get("name") or ""
        if not name:
            errs.append(required(p))
        else:
            errs.extend(validate_dns1123_label(name, p))
        if name in vol_names:
            errs.append(duplicate(p, name))
        vol_names.add(name)
    containers = _l(spec.get("containers"))
    errs.extend(_validate_containers(containers, child(path, "containers")))
    errs.extend(_validate_init_containers(_l(spec.get("initContainers")), containers, child(path, "initContainers")))

    if spec.get("hostNetwork"):
        for ci, c in enumerate(containers):
            for pi, port in enumerate(_l(_d(c).get("ports"))):
                port = _d(port)
                hp, cp = port.get("hostPort") or 0, port.get("containerPort") or 0
                if (is_pod or hp != 0) and hp != cp:
                    p = child(index(child(index(child(path, "containers"), ci), "ports"), pi), "hostPort")
                    errs.append(invalid(p, hp, "must match `containerPort` when `hostNetwork` is true"))

    rp = spec.get("restartPolicy") or ""
    if not rp:
        errs.append(required(child(path, "restartPolicy")))
    elif rp not in _RESTART_POLICIES:
        errs.append(_not_supported_unsorted(child(path, "restartPolicy"), rp, _RESTART_POLICIES))
    dp = spec.get("dnsPolicy") or ""
    if not dp:
        errs.append(required(child(path, "dnsPolicy")))
    elif dp not in _DNS_POLICIES:
        errs.append(_not_supported_unsorted(child(path, "dnsPolicy"), dp, _DNS_POLICIES))
    errs.extend(validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector")))
    errs.extend(_validate_dns_config(spec.get("dnsConfig"), dp, child(path, "dnsConfig")))

    sa = spec.get("serviceAccountName") or ""
    if sa:
        errs.extend(invalid(child(path, "serviceAccountName"), sa, m) for m in name_is_dns_subdomain(sa))
    node = spec.get("nodeName") or ""
    if node:
        errs.extend(invalid(child(path, "nodeName"), node, m) for m in name_is_dns_subdomain(node))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads < 1 or ads > _MAX_INT32):
        errs.append(invalid(child(path, "activeDeadlineSeconds"), ads, inclusive_range_error(1, _MAX_INT32)))
    if spec.get("hostname"):
        errs.extend(validate_dns1123_label(spec["hostname"], child(path, "hostname")))
    if spec.get("subdomain"):
        errs.extend(validate_dns1123_label(spec["subdomain"], child(path, "subdomain")))
    for i, alias in enumerate(_l(spec.get("hostAliases"))):
        alias = _d(alias)
        p = index(child(path, "hostAliases"), i)
        errs.extend(validate_ip(child(p, "ip"), alias.get("ip", "")))
        for j, h in enumerate(_l(alias.get("hostnames"))):
            errs.extend(validate_dns1123_subdomain(str(h), index(child(p, "hostnames"), j)))
    return errs


def _not_supported_unsorted(path: str, value: Any, supported: list[str]) -> FieldError:
    """NotSupported with the list in upstream's (unsorted) order, e.g. restartPolicy."""
    return FieldError(
        "NotSupported", path, value, "supported values: " + ", ".join(go_quote(s) for s in supported)
    )


def _validate_dns_config(cfg: Any, dns_policy: str, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if dns_policy == "None":
        if cfg is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not _l(_d(cfg).get("nameservers")):
            return [required(child(path, "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if cfg is None:
        return errs
    cfg = _d(cfg)
    ns = _l(cfg.get("nameservers"))
    if len(ns) > 3:
        errs.append(invalid(child(path, "nameservers"), GoRepr(_strs(ns)), "must not have more than 3 nameservers"))
    for i, n in enumerate(ns):
        errs.extend(validate_ip(index(child(path, "nameservers"), i), n))
    searches = _l(cfg.get("searches"))
    if len(searches) > 32:
        errs.append(invalid(child(path, "searches"), GoRepr(_strs(searches)), "must not have more than 32 search paths"))
    if len(" ".join(str(s) for s in searches)) > 2048:
        errs.append(
            invalid(
                child(path, "searches"),
                GoRepr(_strs(searches)),
                "must not have more than 2048 characters (including spaces) in the search list",
            )
        )
    for i, s in enumerate(searches):
        s = str(s)
        if s.endswith("."):
            s = s[:-1]
        errs.extend(validate_dns1123_subdomain(s, index(child(path, "searches"), i)))
    for i, opt in enumerate(_l(cfg.get("options"))):
        if not _d(opt).get("name"):
            errs.append(required(index(child(path, "options"), i), "must not be empty"))
    return errs


def _strs(values: list) -> str:
    return "[]string{" + ", ".join(go_quote(str(v)) for v in values) + "}"


def _validate_containers_only_for_pod(containers: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, c in enumerate(containers):
        image = _d(c).get("image") or ""
        if image != image.strip():
            errs.append(invalid(child(index(path, i), "image"), image, "must not have leading or trailing whitespace"))
    return errs


# --------------------------------------------------------------------------------------------
# pod


def validate_pod(pod: dict) -> list[FieldError]:
    """``ValidatePodCreate`` (metadata + spec; status is reset by the registry on create)."""
    spec = _d(pod.get("spec"))
    errs = _validate_pod_metadata_and_spec(pod)
    if _l(spec.get("ephemeralContainers")):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if spec.get("nodeName") and _l(spec.get("schedulingGates")):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


def validate_pod_template_spec(template: Any, path: str) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: note labels sit at ``<path>.labels`` (no ``metadata``), as upstream."""
    template = _d(template)
    meta = _d(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    spec = _d(template.get("spec"))
    errs.extend(validate_pod_spec(spec, child(path, "spec"), is_pod=False))
    if _l(spec.get("ephemeralContainers")):
        errs.append(forbidden(child(path, "spec.ephemeralContainers"), "ephemeral containers not allowed in pod template"))
    return errs


def validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    """``ValidatePodUpdate``."""
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_pod_metadata_and_spec(new))
    ns, os_ = _d(new.get("spec")), _d(old.get("spec"))
    for field in ("containers", "initContainers"):
        nc, oc = _l(ns.get(field)), _l(os_.get(field))
        if len(nc) != len(oc):
            errs.append(forbidden(f"spec.{field}", "pod updates may not add or remove containers"))
            return errs
        for i, c in enumerate(nc):
            image = _d(c).get("image") or ""
            if not image:
                errs.append(required(f"spec.{field}[{i}].image"))
            if image.strip() != image:
                errs.append(invalid(f"spec.{field}[{i}].image", image, "must not have leading or trailing whitespace"))

    nads, oads = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if nads is not None:
        if nads < 0 or nads > _MAX_INT32:
            errs.append(invalid("spec.activeDeadlineSeconds", nads, inclusive_range_error(0, _MAX_INT32)))
            return errs
        if oads is not None and oads < nads:
            errs.append(invalid("spec.activeDeadlineSeconds", nads, "must be less than or equal to previous value"))
            return errs
    elif oads is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))

    new_tol, old_tol = _l(ns.get("tolerations")), _l(os_.get("tolerations"))
    for t in old_tol:
        t_wo = {k: v for k, v in _d(t).items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in _d(n).items() if k != "tolerationSeconds"} == t_wo for n in new_tol):
            errs.append(forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))
            break

    if ns == os_:
        return errs
    munged = dict(ns)
    for field in ("containers", "initContainers"):
        munged[field] = [
            {**_d(c), "image": _d(o).get("image")} if "image" in _d(o) else {k: v for k, v in _d(c).items() if k != "image"}
            for c, o in zip(_l(ns.get(field)), _l(os_.get(field)))
        ]
        if field not in ns:
            munged.pop(field)
    for field in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(field, None)
        if field in os_:
            munged[field] = os_[field]
    otgp, mtgp = os_.get("terminationGracePeriodSeconds"), munged.get("terminationGracePeriodSeconds")
    if otgp is not None and otgp < 0 and mtgp == 1:
        munged["terminationGracePeriodSeconds"] = otgp
    if munged != os_:
        changed = sorted(k for k in set(munged) | set(os_) if munged.get(k) != os_.get(k))
        diff = "\n".join(f"  spec.{k}: changed" for k in changed)
        errs.append(forbidden("spec", f"pod updates may not change fields other than {_UPDATABLE_FIELDS}\n{diff}"))
    return errs


def _validate_pod_metadata_and_spec(pod: dict) -> list[FieldError]:
    spec = _d(pod.get("spec"))
    errs = validate_object_meta(pod.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    errs.extend(validate_pod_spec(spec, "spec", is_pod=True))
    errs.extend(_validate_containers_only_for_pod(_l(spec.get("containers")), "spec.containers"))
    errs.extend(_validate_containers_only_for_pod(_l(spec.get("initContainers")), "spec.initContainers"))
    return errs


def effective_pod_ips(status: Any, single: str = "podIP", plural: str = "podIPs") -> list[str]:
    """The pod's IPs as v1->internal conversion sees them (``podIP`` wins when they differ)."""
    status = _d(status)
    ip = status.get(single) or ""
    ips = [(_d(x).get("ip") or "") for x in _l(status.get(plural))]
    if ip and (not ips or ips[0] != ip):
        return [ip]
    return ips


def _validate_ip_list(ips: list[str], path: str, type_name: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ip in enumerate(ips):
        errs.extend(validate_ip(index(path, i), ip))
    if len(ips) > 1:
        value = GoRepr("[]core." + type_name + "{" + ", ".join(f"core.{type_name}{{IP:{go_quote(ip)}}}" for ip in ips) + "}")
        if not is_dual_stack_ips(ips) or len(ips) > 2:
            errs.append(invalid(path, value, "may specify no more than one IP for each IP family"))
        seen: set[str] = set()
        for i, ip in enumerate(ips):
            if ip in seen:
                errs.append(duplicate(index(path, i), GoRepr(f"core.{type_name}{{IP:{go_quote(ip)}}}")))
            seen.add(ip)
    return errs


def validate_pod_status_update(new: dict, old: dict) -> list[FieldError]:
    """``ValidatePodStatusUpdate`` (the parts that matter here)."""
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    if (_d(new.get("spec")).get("nodeName") or "") != (_d(old.get("spec")).get("nodeName") or ""):
        errs.append(forbidden("status.nodeName", "may not be changed directly"))
    status, old_status = _d(new.get("status")), _d(old.get("status"))
    nnn = status.get("nominatedNodeName") or ""
    if nnn and nnn != (old_status.get("nominatedNodeName") or ""):
        errs.extend(invalid("status.nominatedNodeName", nnn, m) for m in name_is_dns_subdomain(nnn))
    if (status.get("qosClass") or "") != (old_status.get("qosClass") or "") and old_status.get("qosClass"):
        errs.append(invalid("status.qosClass", status.get("qosClass") or "", "field is immutable"))
    errs.extend(_validate_ip_list(effective_pod_ips(status), "status.podIPs", "PodIP"))
    host_ips = effective_pod_ips(status, "hostIP", "hostIPs")
    if host_ips:
        errs.extend(_validate_ip_list(host_ips, "status.hostIPs", "HostIP"))
    return errs
