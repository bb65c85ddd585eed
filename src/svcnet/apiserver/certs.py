"""A private CA and a serving certificate for the API server.

kubectl (client-go) does not send a bearer token over plain HTTP, so the API server speaks TLS.
On first start a CA and a serving certificate for the listen addresses are written to the state
directory (keys mode 0600); the kubeconfig embeds the CA, so clients verify the server. The
serving certificate is re-issued when the wanted names change or it is within 30 days of expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["ServingCerts", "ensure_serving_certs"]


class ServingCerts:
    def __init__(self, directory: Path):
        self.dir = directory
        self.ca_cert = directory / "ca.crt"
        self.ca_key = directory / "ca.key"
        self.cert = directory / "apiserver.crt"
        self.key = directory / "apiserver.key"

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


def _write(path: Path, data: bytes, private: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _cert_ok(path: Path, hosts: list[str]) -> bool:
    if not path.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:
        return False
    want = set(_san(hosts))
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=30)
    return fresh and want <= set(san)


def ensure_serving_certs(directory: str | os.PathLike, hosts: list[str]) -> ServingCerts:
    """Create (or reuse) the CA and a serving certificate valid for ``hosts``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    certs = ServingCerts(d)
    now = dt.datetime.now(dt.timezone.utc)
    hosts = sorted(set(hosts) | {"127.0.0.1", "localhost"})
    if certs.ca_cert.exists() and certs.ca_key.exists():
        ca_key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svcnet-ca")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        _write(certs.ca_key, _key_pem(ca_key), True)
        _write(certs.ca_cert, ca.public_bytes(serialization.Encoding.PEM), False)
    if _cert_ok(certs.cert, hosts) and certs.key.exists():
        return certs
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svcnet-apiserver")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write(certs.key, _key_pem(key), True)
    _write(certs.cert, cert.public_bytes(serialization.Encoding.PEM), False)
    return certs
