"""A container's environment, as kubelet builds it.

Theory of operation
-------------------
Upstream sources: ``pkg/kubelet/envvars/envvars.go`` (service variables),
``pkg/kubelet/kubelet_pods.go`` (``getServiceEnvVarMap``, ``makeEnvironmentVariables``,
``podFieldSelectorRuntimeValue``) and ``third_party/forked/golang/expansion/expand.go``
(``$(VAR)`` expansion). Rules:

1. **Which services.** Only services whose ClusterIP is set (not ``""``/``"None"``; an
   ExternalName service has none) count. The pod sees every such service of its own namespace
   when ``spec.enableServiceLinks`` is true (the API default), and always ``kubernetes`` from the
   master namespace (``default``); a same-named service of the pod's own namespace wins over it
   when links are on (upstream's map is keyed by service name).
2. **Service variables** (:func:`from_services`, upstream order per service): ``<N>_SERVICE_HOST``,
   ``<N>_SERVICE_PORT`` (first port), ``<N>_SERVICE_PORT_<PORTNAME>`` for named ports, then the
   docker-links set ``<N>_PORT`` (first port, ``proto://ip:port``) and per port
   ``<N>_PORT_<port>_<PROTO>`` with ``_PROTO``, ``_PORT``, ``_ADDR``. ``<N>`` is the name
   upper-cased with ``-`` → ``_``; IPv6 addresses are bracketed in URLs (``net.JoinHostPort``).
3. **Declared variables** (``container.env``, in order): a non-empty ``value`` is expanded with
   ``$(VAR)`` against the variables declared before it, then the service variables; otherwise
   ``valueFrom`` is resolved (``fieldRef``: ``metadata.name|namespace|uid``,
   ``metadata.labels['k']``, ``metadata.annotations['k']``, ``spec.nodeName``,
   ``spec.serviceAccountName``, ``status.podIP(s)``, ``status.hostIP(s)``). ConfigMaps and
   Secrets do not exist in svcnet: a ``configMapKeyRef``/``secretKeyRef``/``envFrom`` that is
   not ``optional`` is an error (the container then waits with ``CreateContainerConfigError``,
   as upstream does for a missing ConfigMap); an optional one is skipped.
4. **Expansion** (:func:`expand`): ``$(NAME)`` becomes the value if known, else stays literally;
   ``$$`` is an escaped ``$``; any other ``$`` passes through. Command and args are expanded the
   same way against the final environment (``ExpandContainerCommandAndArgs``).
5. **svcnet additions** (local mode has no network namespace, so a process cannot learn its pod
   IP from an interface): ``POD_IP``, ``POD_NAME``, ``POD_NAMESPACE``, ``NODE_NAME`` and
   ``HOSTNAME`` (pod name, or ``spec.hostname``; what a container runtime sets) are always
   present. They rank below declared variables and above service variables, and ``$(POD_IP)``
   expands in values, command and args.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "EnvError",
    "container_env",
    "expand",
    "expand_command",
    "field_value",
    "from_services",
    "is_service_ip_set",
    "make_env_variable_name",
    "mapping_func_for",
    "service_env_map",
    "visible_services",
]

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


class EnvError(Exception):
    """The environment cannot be built; the message is shown in the container's waiting state."""


# -- services ---------------------------------------------------------------------------------


def is_service_ip_set(svc: dict) -> bool:
    """upstream ``IsServiceIPSet``: a ClusterIP that is neither empty nor ``None``."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return False
    ip = spec.get("clusterIP") or ""
    return ip not in ("", "None")


def make_env_variable_name(name: str) -> str:
    """``foo-bar`` → ``FOO_BAR`` (upstream ``makeEnvVariableName``)."""
    return name.replace("-", "_").upper()


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def from_services(services: Iterable[dict]) -> list[tuple[str, str]]:
    """The variables for ``services``, in upstream order (``envvars.FromServices``)."""
    out: list[tuple[str, str]] = []
    for svc in services:
        if not is_service_ip_set(svc):
            continue
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            continue
        ip = spec["clusterIP"]
        prefix = make_env_variable_name((svc.get("metadata") or {}).get("name", ""))
        out.append((prefix + "_SERVICE_HOST", ip))
        out.append((prefix + "_SERVICE_PORT", str(ports[0].get("port"))))
        for sp in ports:
            if sp.get("name"):
                out.append((f"{prefix}_SERVICE_PORT_{make_env_variable_name(sp['name'])}", str(sp.get("port"))))
        for i, sp in enumerate(ports):
            proto = sp.get("protocol") or "TCP"
            port = int(sp.get("port") or 0)
            url = f"{proto.lower()}://{_join_host_port(ip, port)}"
            if i == 0:
                out.append((prefix + "_PORT", url))
            pp = f"{prefix}_PORT_{port}_{proto.upper()}"
            out.append((pp, url))
            out.append((pp + "_PROTO", proto.lower()))
            out.append((pp + "_PORT", str(port)))
            out.append((pp + "_ADDR", ip))
    return out


def visible_services(
    services: Iterable[dict],
    namespace: str,
    enable_service_links: bool = True,
    *,
    master_namespace: str = MASTER_NAMESPACE,
) -> list[dict]:
    """The services a pod in ``namespace`` gets variables for (rule 1), sorted by name."""
    by_name: dict[str, dict] = {}
    for svc in services:
        if not is_service_ip_set(svc):
            continue
        md = svc.get("metadata") or {}
        name, ns = md.get("name", ""), md.get("namespace", "")
        if ns == master_namespace and name in MASTER_SERVICES:
            by_name.setdefault(name, svc)
        elif ns == namespace and enable_service_links:
            by_name[name] = svc
    return [by_name[k] for k in sorted(by_name)]


def service_env_map(
    services: Iterable[dict],
    namespace: str,
    enable_service_links: bool = True,
    *,
    master_namespace: str = MASTER_NAMESPACE,
) -> dict[str, str]:
    """upstream ``getServiceEnvVarMap``."""
    vis = visible_services(services, namespace, enable_service_links, master_namespace=master_namespace)
    return dict(from_services(vis))


# -- expansion --------------------------------------------------------------------------------


def mapping_func_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """Look ``name`` up in each context in turn; unknown names stay ``$(name)``."""

    def mapping(name: str) -> str:
        for ctx in contexts:
            if name in ctx:
                return ctx[name]
        return f"$({name})"

    return mapping


def expand(s: str, mapping: Callable[[str], str]) -> str:
    """Expand ``$(VAR)`` references (upstream ``expansion.Expand``)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(s)
    while cursor < n:
        if s[cursor] == "$" and cursor + 1 < n:
            out.append(s[checkpoint:cursor])
            nxt = s[cursor + 1]
            if nxt == "$":  # escaped operator
                out.append("$")
                advance = 1
            elif nxt == "(":
                close = s.find(")", cursor + 2)
                if close < 0:  # incomplete reference: keep "$(" and go on after it
                    out.append("$(")
                    advance = 1
                else:
                    out.append(mapping(s[cursor + 2 : close]))
                    advance = close - cursor
            else:  # not an expression: the operator and the next character pass through
                out.append("$" + nxt)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(s[checkpoint:])
    return "".join(out)


def expand_command(args: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """Expand ``command``/``args`` against the final environment."""
    mapping = mapping_func_for(env)
    return [expand(a, mapping) for a in args]


# -- downward API -----------------------------------------------------------------------------

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\[['\"]?(.*?)['\"]?\]$")


def field_value(pod: dict, field_path: str, *, pod_ip: str, host_ip: str) -> str:
    """upstream ``podFieldSelectorRuntimeValue`` + ``ExtractFieldPathAsString``."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    match field_path:
        case "metadata.name":
            return md.get("name", "")
        case "metadata.namespace":
            return md.get("namespace", "")
        case "metadata.uid":
            return md.get("uid", "")
        case "spec.nodeName":
            return spec.get("nodeName", "")
        case "spec.serviceAccountName":
            return spec.get("serviceAccountName", "")
        case "status.podIP":
            return pod_ip
        case "status.podIPs":
            return pod_ip
        case "status.hostIP" | "status.hostIPs":
            return host_ip
    m = _SUBSCRIPT.match(field_path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    raise EnvError(f"unsupported fieldPath: {field_path}")


# -- the whole environment --------------------------------------------------------------------


def _optional(ref: dict | None) -> bool:
    return bool((ref or {}).get("optional"))


def container_env(
    pod: dict,
    container: dict,
    *,
    pod_ip: str,
    host_ip: str,
    services: Iterable[dict] = (),
    master_namespace: str = MASTER_NAMESPACE,
) -> dict[str, str]:
    """The environment of ``container`` in ``pod`` (rules 1-5); raises :class:`EnvError`."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    ns = md.get("namespace") or "default"
    links = spec.get("enableServiceLinks", True)
    service_env = service_env_map(services, ns, links is not False, master_namespace=master_namespace)
    extras = {
        "POD_IP": pod_ip,
        "POD_NAME": md.get("name", ""),
        "POD_NAMESPACE": ns,
        "NODE_NAME": spec.get("nodeName", ""),
        "HOSTNAME": spec.get("hostname") or md.get("name", ""),
    }
    declared: dict[str, str] = {}
    for ef in container.get("envFrom") or []:
        ref = ef.get("configMapRef") or ef.get("secretRef")
        kind = "configMap" if "configMapRef" in ef else "secret"
        if not _optional(ref):
            raise EnvError(f"{kind} \"{(ref or {}).get('name', '')}\" not found (svcnet has no {kind}s)")
    mapping = mapping_func_for(declared, service_env, extras)
    for ev in container.get("env") or []:
        name = ev.get("name", "")
        value = ev.get("value") or ""
        vf = ev.get("valueFrom")
        if value:
            value = expand(value, mapping)
        elif vf:
            if "fieldRef" in vf:
                value = field_value(pod, (vf["fieldRef"] or {}).get("fieldPath", ""), pod_ip=pod_ip, host_ip=host_ip)
            elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef") or {}
                kind = "configmap" if "configMapKeyRef" in vf else "secret"
                if _optional(ref):
                    continue
                raise EnvError(f"{kind} \"{ref.get('name', '')}\" not found (svcnet has no {kind}s)")
            elif "resourceFieldRef" in vf:
                raise EnvError("resourceFieldRef is not supported by the svcnet local kubelet")
        declared[name] = value
    env: dict[str, str] = {}
    env.update(service_env)
    env.update(extras)
    env.update(declared)
    return env
