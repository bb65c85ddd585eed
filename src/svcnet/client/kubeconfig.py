"""Kubeconfig files: where svcnet writes its own, and how any kubeconfig is read.

svcnet never touches ``~/.kube/config``: ``svcnet up`` writes its kubeconfig into the user's
state directory (``$XDG_STATE_HOME/svcnet/kubeconfig``, default ``~/.local/state/svcnet``), and
client commands look for a kubeconfig in this order: ``--kubeconfig``, ``$KUBECONFIG`` (the first
existing file of the list), svcnet's own.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from svcnet.api.errors import SvcnetError

__all__ = [
    "ClusterAccess",
    "KubeconfigError",
    "default_kubeconfig_path",
    "load_kubeconfig",
    "resolve_kubeconfig_path",
    "state_dir",
    "write_kubeconfig",
]


class KubeconfigError(SvcnetError):
    """A kubeconfig that is missing or cannot be used."""


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "svcnet"


def default_kubeconfig_path() -> Path:
    return state_dir() / "kubeconfig"


def resolve_kubeconfig_path(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("KUBECONFIG")
    if env:
        for p in env.split(os.pathsep):
            if p and Path(p).expanduser().exists():
                return Path(p).expanduser()
    return default_kubeconfig_path()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterAccess:
    """What a client needs from a kubeconfig context."""

    server: str
    token: str | None = None
    ca_data: bytes | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    namespace: str = "default"
    source: str = ""


def _data(entry: dict, key: str, base_dir: Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        p = Path(entry[key])
        if not p.is_absolute():
            p = base_dir / p
        return p.read_bytes()
    return None


def load_kubeconfig(path: str | None = None, *, context: str | None = None) -> ClusterAccess:
    """Read the current (or named) context. Raises KubeconfigError with a hint."""
    p = resolve_kubeconfig_path(path)
    if not p.exists():
        raise KubeconfigError(
            f"no kubeconfig at {p}: start a control plane with `svcnet up` (it writes one there), "
            "or pass --kubeconfig"
        )
    try:
        cfg = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{p}: not valid YAML: {e}") from None
    ctx_name = context or cfg.get("current-context")
    ctxs = {c.get("name"): c.get("context") or {} for c in cfg.get("contexts") or []}
    if ctx_name not in ctxs:
        raise KubeconfigError(f"{p}: context {ctx_name!r} not found")
    ctx = ctxs[ctx_name]
    clusters = {c.get("name"): c.get("cluster") or {} for c in cfg.get("clusters") or []}
    users = {u.get("name"): u.get("user") or {} for u in cfg.get("users") or []}
    cluster = clusters.get(ctx.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise KubeconfigError(f"{p}: cluster {ctx.get('cluster')!r} has no server")
    user = users.get(ctx.get("user"), {})
    base = p.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    return ClusterAccess(
        server=cluster["server"].rstrip("/"),
        token=token,
        ca_data=_data(cluster, "certificate-authority", base),
        client_cert_data=_data(user, "client-certificate", base),
        client_key_data=_data(user, "client-key", base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=ctx.get("namespace") or "default",
        source=str(p),
    )


def write_kubeconfig(
    path: str | os.PathLike,
    server: str,
    token: str,
    *,
    ca_pem: bytes | None = None,
    name: str = "svcnet",
    namespace: str = "default",
) -> Path:
    """Write a kubeconfig (mode 0600) for ``server`` with a bearer token and the CA to trust."""
    p = Path(path)
    home_kube = Path(os.path.expanduser("~")) / ".kube" / "config"
    if p.resolve() == home_kube.resolve():
        raise KubeconfigError(f"refusing to overwrite {home_kube}; choose another --kubeconfig")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, **({"certificate-authority-data": base64.b64encode(ca_pem).decode()} if ca_pem else {})},
            }
        ],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin", "namespace": namespace}}],
        "current-context": name,
        "preferences": {},
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, p)
    return p
