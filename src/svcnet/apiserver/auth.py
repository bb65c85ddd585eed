"""Bearer-token authentication from a token file, and a two-level authorization.

The token file uses the kube-apiserver ``--token-auth-file`` format: one CSV line per token,
``token,user,uid[,"group1,group2"]``. A user in the group ``svcnet:viewers`` may only read
(get, list, watch); any other authenticated user may read and write. Requests without a valid
token get 401 except the health and version endpoints, as with anonymous auth restricted to
those paths.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from svcnet.api.errors import Forbidden, Unauthorized, go_quote

__all__ = [
    "READ_VERBS",
    "TokenAuth",
    "User",
    "VIEWERS_GROUP",
    "write_token_file",
]

VIEWERS_GROUP = "svcnet:viewers"
READ_VERBS = frozenset({"get", "list", "watch"})
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})


@dataclass(frozen=True, slots=True)
class User:
    name: str
    uid: str
    groups: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return VIEWERS_GROUP in self.groups


class TokenAuth:
    """Tokens loaded once from a file; ``None`` file means authentication is off."""

    def __init__(self, tokens: dict[str, User]):
        self.tokens = tokens

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TokenAuth":
        tokens: dict[str, User] = {}
        text = Path(path).read_text()
        for row in csv.reader(io.StringIO(text)):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}: a token line needs token,user,uid[,groups]: {row!r}")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tokens[row[0].strip()] = User(row[1].strip(), row[2].strip(), groups)
        return cls(tokens)

    def authenticate(self, path: str, authorization: str | None) -> User | None:
        """The user behind an ``Authorization: Bearer`` header. Raises Unauthorized."""
        if path in PUBLIC_PATHS:
            return None
        if authorization and authorization.lower().startswith("bearer "):
            user = self.tokens.get(authorization[7:].strip())
            if user is not None:
                return user
        raise Unauthorized("Unauthorized")

    @staticmethod
    def authorize(user: User | None, verb: str, resource: str, group: str, namespace: str | None, name: str | None) -> None:
        """Raises Forbidden with the kube-apiserver's RBAC wording."""
        if user is None or verb in READ_VERBS or not user.read_only:
            return
        target = f"{resource}.{group}" if group else resource
        who = f"{target} {go_quote(name)}" if name else target
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        raise Forbidden(
            f'{who} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" '
            f'in API group "{group}"{where}'
        )


def write_token_file(path: str | os.PathLike) -> tuple[str, str]:
    """Create a token file with an admin and a viewer token (mode 0600); returns both tokens.
    An existing file is kept and its first admin/viewer tokens are returned."""
    p = Path(path)
    if p.exists():
        auth = TokenAuth.from_file(p)
        admin = next((t for t, u in auth.tokens.items() if not u.read_only), "")
        viewer = next((t for t, u in auth.tokens.items() if u.read_only), "")
        return admin, viewer
    admin, viewer = secrets.token_hex(16), secrets.token_hex(16)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'{admin},admin,1000,"system:masters"\n')
        f.write(f'{viewer},viewer,1001,"{VIEWERS_GROUP}"\n')
    return admin, viewer
