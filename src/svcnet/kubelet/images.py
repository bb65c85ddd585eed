"""Which container images the local runtime can run, and how.

Theory of operation
-------------------
Local mode has no image store: a container runs as a host process. What it runs is decided by
:func:`plan_exec` from the container spec:

1. **A ``command`` is given** → it runs as given (argv, with ``args`` appended), after ``$(VAR)``
   expansion, on the host: ``python3 -m http.server --bind $(POD_IP) 8080`` works as expected.
   Exception: when the command is the known entrypoint of a stand-in image (``/agnhost``,
   ``/pause``, ``nginx``, ``httpd-foreground``…), which does not exist on the host, the stand-in
   runs instead with the remaining words as its arguments.
2. **Only an image** → if :func:`resolve` knows it, the built-in stand-in runs:
   ``python -m svcnet.kubelet.standin <kind> [args...]``. Known images (tag and digest ignored,
   ``docker.io/library/`` implied as usual):

   ========== ==================================================================== =============
   kind       images                                                               default port
   ========== ==================================================================== =============
   agnhost    ``registry.k8s.io/e2e-test-images/agnhost`` (any registry; last       9376 / 8080
              path element ``agnhost``), subcommands ``serve-hostname``,
              ``netexec``, ``pause``
   nginx      ``nginx``, ``*/nginx``, ``nginxinc/nginx-unprivileged`` (8080)        80
   httpd      ``httpd``, ``*/httpd``                                                80
   echo       ``svcnet/echo``                                                       8080
   pause      ``registry.k8s.io/pause`` (last path element ``pause``)               —
   ========== ==================================================================== =============

3. **Anything else** is refused with :data:`REASON_NOT_SUPPORTED` and a message listing what is
   supported (the container waits with that reason, as upstream waits in ``ErrImagePull``).

Stand-ins learn the pod from the environment (``POD_IP``, ``POD_NAME``…) and their ports from
``SVCNET_CONTAINER_PORTS`` (:func:`format_ports`: ``name:port/PROTO`` comma list).

**Bind failures.** A stand-in that cannot bind prints ``svcnet: cannot bind IP:PORT/PROTO:
<strerror>`` to stderr and exits with :data:`BIND_FAILED_EXIT`. For any process, the runtime
scans the tail of the log of a failed container with :func:`bind_failure` (our line, or the
usual ``Address already in use`` / ``Permission denied`` texts of Python, Go, nginx) and
reports the container terminated with reason :data:`REASON_BIND_FAILED`.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BIND_FAILED_EXIT",
    "BIND_FAILED_PREFIX",
    "ENV_PORTS",
    "ExecPlan",
    "REASON_BIND_FAILED",
    "REASON_NOT_SUPPORTED",
    "StandIn",
    "bind_failure",
    "format_ports",
    "parse_image",
    "parse_ports",
    "plan_exec",
    "resolve",
    "supported_images",
]

BIND_FAILED_EXIT = 98
BIND_FAILED_PREFIX = "svcnet: cannot bind "
REASON_BIND_FAILED = "BindFailed"
REASON_NOT_SUPPORTED = "ImageNotSupported"
ENV_PORTS = "SVCNET_CONTAINER_PORTS"

AGNHOST_SUBCOMMANDS = ("netexec", "pause", "serve-hostname")

_ENTRYPOINTS = {
    "agnhost": ("/agnhost", "agnhost"),
    "pause": ("/pause", "pause"),
    "nginx": ("nginx", "/usr/sbin/nginx", "/docker-entrypoint.sh"),
    "httpd": ("httpd-foreground", "httpd", "/usr/local/bin/httpd-foreground"),
    "echo": ("/echo", "echo-server"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StandIn:
    kind: str  # agnhost | nginx | httpd | echo | pause
    default_port: int | None


def parse_image(ref: str) -> tuple[str, str, str, str]:
    """``(registry, repository, tag, digest)`` of a docker image reference."""
    rest, _, digest = ref.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = ""
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repo = first, remainder
    else:
        registry, repo = "docker.io", rest
    if registry == "docker.io" and "/" not in repo:
        repo = "library/" + repo
    return registry, repo, tag, digest


def resolve(image: str) -> StandIn | None:
    """The stand-in for ``image``, or None if there is none."""
    if not image:
        return None
    registry, repo, _tag, _digest = parse_image(image.strip())
    last = repo.rsplit("/", 1)[-1]
    if repo == "svcnet/echo":
        return StandIn(kind="echo", default_port=8080)
    if last == "agnhost":
        return StandIn(kind="agnhost", default_port=None)
    if last == "pause":
        return StandIn(kind="pause", default_port=None)
    if last == "nginx-unprivileged":
        return StandIn(kind="nginx", default_port=8080)
    if last == "nginx":
        return StandIn(kind="nginx", default_port=80)
    if last == "httpd":
        return StandIn(kind="httpd", default_port=80)
    return None


def supported_images() -> str:
    return (
        "registry.k8s.io/e2e-test-images/agnhost:* (" + ", ".join(AGNHOST_SUBCOMMANDS) + "), "
        "nginx, httpd, svcnet/echo, registry.k8s.io/pause; or give a command to run on the host"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecPlan:
    """How to run a container: ``argv`` (before ``$(VAR)`` expansion), or why it cannot run."""

    argv: tuple[str, ...] = ()
    standin: StandIn | None = None
    error: str = ""  # non-empty: refuse with REASON_NOT_SUPPORTED and this message


def plan_exec(container: dict, python: str) -> ExecPlan:
    """Rule 1-3: what to execute for ``container``; ``python`` is the interpreter for stand-ins."""
    image = container.get("image") or ""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    st = resolve(image)
    if command and st is not None and command[0] in _ENTRYPOINTS.get(st.kind, ()):
        args = command[1:] + args
        command = []
    if command:
        return ExecPlan(argv=tuple(command + args))
    if st is None:
        return ExecPlan(error=f"image {image!r} cannot run in local mode; supported: {supported_images()}")
    if st.kind == "agnhost" and args and args[0] not in AGNHOST_SUBCOMMANDS:
        return ExecPlan(
            standin=st,
            error=f"agnhost subcommand {args[0]!r} has no svcnet stand-in; supported: {', '.join(AGNHOST_SUBCOMMANDS)}",
        )
    argv = (python, "-m", "svcnet.kubelet.standin", st.kind, *args)
    return ExecPlan(argv=argv, standin=st)


# -- ports ------------------------------------------------------------------------------------


def format_ports(ports: list[dict] | None) -> str:
    """``containers[].ports`` → ``http:8080/TCP,:53/UDP``."""
    out = []
    for p in ports or []:
        out.append(f"{p.get('name') or ''}:{int(p.get('containerPort') or 0)}/{(p.get('protocol') or 'TCP').upper()}")
    return ",".join(out)


def parse_ports(text: str | None) -> list[tuple[str, int, str]]:
    """Inverse of :func:`format_ports`: ``[(name, port, PROTO)]``; malformed items are skipped."""
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, rest = item.rpartition(":")
        port, _, proto = rest.partition("/")
        if port.isdigit():
            out.append((name, int(port), (proto or "TCP").upper()))
    return out


# -- bind failures ----------------------------------------------------------------------------

_BIND_PATTERNS = (
    re.compile(r"^svcnet: cannot bind .*$", re.M),
    re.compile(r"^.*(?:\[Errno 98\]|EADDRINUSE|[Aa]ddress already in use).*$", re.M),
    re.compile(r"^.*(?:\[Errno 13\] Permission denied|bind\(\).*Permission denied|listen tcp .*permission denied).*$", re.M),
    re.compile(r"^.*(?:\[Errno 99\]|[Cc]annot assign requested address).*$", re.M),
)


def bind_failure(log_tail: str) -> str | None:
    """The line of ``log_tail`` that says a bind failed, or None."""
    for pat in _BIND_PATTERNS:
        m = None
        for m in pat.finditer(log_tail):
            pass
        if m is not None:
            return m.group(0).strip()[:512]
    return None
