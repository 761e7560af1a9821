"""Password hashes for the dashboard login (standard library only: ``hashlib`` + ``hmac``).

Stored format (``QC_DASHBOARD_PASSWORD_HASH``), fields separated by ``$``, salt and key in URL-safe
base64 without padding:

- ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (what :func:`hash_password` makes: n=2**15, r=8, p=1, 32-byte key)
- ``pbkdf2_sha256$<iterations>$<salt>$<key>`` (accepted, for hashes made elsewhere)

Make one with ``callqc dashboard hash-password`` (or ``python -m dashboards.auth``; ``--stdin`` reads
the password from standard input). Verification compares keys in constant time.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import sys

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
KEY_BYTES = 32
SALT_BYTES = 16
# Bounds on the cost parameters a stored hash may ask for (a typo must not hang every login).
_MAX_SCRYPT_N, _MAX_SCRYPT_R, _MAX_SCRYPT_P = 2**20, 32, 16
_MAX_PBKDF2_ITERATIONS = 10_000_000

FORMAT_HELP = (
    "expected 'scrypt$N$R$P$SALT$KEY' or 'pbkdf2_sha256$ITERATIONS$SALT$KEY' "
    "(make one with `callqc dashboard hash-password`)"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * r * n + 2**20
    )


def hash_password(password: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """An scrypt hash of ``password`` in the stored format. Raises ``ValueError`` for an empty password."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[str, tuple[int, ...], bytes, bytes]:
    parts = stored.strip().split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            ok = 2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= _MAX_SCRYPT_R
            ok = ok and 1 <= p <= _MAX_SCRYPT_P
            params: tuple[int, ...] = (n, r, p)
            salt, key = _unb64(parts[4]), _unb64(parts[5])
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            ok = 1 <= iterations <= _MAX_PBKDF2_ITERATIONS
            params = (iterations,)
            salt, key = _unb64(parts[2]), _unb64(parts[3])
        else:
            ok = False
    except ValueError:  # int() or base64 of a malformed field (binascii.Error is a ValueError)
        ok = False
    if not ok or not salt or len(key) < 16:
        raise ValueError(f"malformed dashboard password hash: {FORMAT_HELP}")
    return parts[0], params, salt, key


def check_password_hash(stored: str) -> None:
    """Raise ``ValueError`` (saying what is expected) unless ``stored`` is a usable hash."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time). Raises ``ValueError`` for a malformed hash."""
    scheme, params, salt, key = _parse(stored)
    if scheme == "scrypt":
        n, r, p = params
        candidate = _scrypt(password, salt, n, r, p, len(key))
    else:
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, params[0], len(key))
    return hmac.compare_digest(candidate, key)


def main(argv: list[str] | None = None) -> int:
    """Print the hash of a password typed twice (or read from stdin with ``--stdin``)."""
    parser = argparse.ArgumentParser(prog="callqc dashboard hash-password", description=main.__doc__)
    parser.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Dashboard password: ")
        if getpass.getpass("Again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 1
    if not password:
        print("the password must not be empty", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
