"""The agent join token (k3s's format): ``K10<sha256 of the CA cert>::node:<secret>``.

The CA hash lets an agent that knows only the server URL and the token fetch
the cluster CA over an unverified connection (``/cacerts``) and check it
before trusting anything else; the secret then authenticates the agent as a
bearer token. A bare secret (without the ``K10…::node:`` part) is accepted
too, but then the agent needs the CA some other way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import pathlib
import secrets

PREFIX = "K10"


class TokenError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Token:
    ca_hash: str  # hex sha256 of the CA certificate PEM, "" if not given
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.ca_hash}::node:{self.secret}" if self.ca_hash else self.secret

    def matches_ca(self, ca_pem: bytes) -> bool:
        return not self.ca_hash or hmac.compare_digest(self.ca_hash, ca_hash(ca_pem))


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def parse(text: str) -> Token:
    text = text.strip()
    if not text:
        raise TokenError("the join token is empty")
    if text.startswith(PREFIX) and "::" in text:
        head, _, rest = text.partition("::")
        digest = head[len(PREFIX):]
        user, _, secret = rest.partition(":")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or user != "node" or not secret:
            raise TokenError("the join token is malformed: expected K10<64 hex digits>::node:<secret>")
        return Token(digest, secret)
    return Token("", text)


def ensure(path: pathlib.Path, ca_pem: bytes) -> Token:
    """The token stored at ``path``, made on first use (mode 0600)."""
    if path.exists():
        tok = parse(path.read_text())
        if tok.matches_ca(ca_pem):
            return tok
    tok = Token(ca_hash(ca_pem), secrets.token_hex(16))
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(tok) + "\n")
    os.replace(tmp, path)
    return tok
