"""A throw-away certificate authority and certificates for TLS tests (``cryptography``).

:func:`make_tls_files` writes, into a directory, a self-signed CA and a server
certificate it signed for ``127.0.0.1`` / ``localhost`` (so hostname checking passes),
plus a client certificate for mutual TLS. Keys are unencrypted PEM files readable by
``redis-server`` and by Python's :mod:`ssl`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from .redis import TlsFiles

__all__ = ["TlsFiles", "cryptography_missing", "make_tls_files"]


def cryptography_missing() -> str | None:
    """None when ``cryptography`` can be imported, else why not (for ``require``)."""
    try:
        import cryptography.x509  # noqa: F401
    except ImportError as e:
        return f"the cryptography package is needed to make test certificates: {e}"
    return None


def make_tls_files(directory: str | os.PathLike[str], *, days: int = 2) -> TlsFiles:
    """Write ``ca.crt``, ``server.crt``/``server.key`` and ``client.crt``/``client.key``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=days)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sio-redis tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("sio-redis test CA"))
        .issuer_name(name("sio-redis test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        cn: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf(
        "127.0.0.1",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_cert, client_key = leaf("sio-redis test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    files = TlsFiles(
        ca=out / "ca.crt",
        cert=out / "server.crt",
        key=out / "server.key",
        client_cert=out / "client.crt",
        client_key=out / "client.key",
    )
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.cert.write_bytes(server_cert.public_bytes(pem))
    write_key(server_key, files.key)
    assert files.client_cert is not None and files.client_key is not None
    files.client_cert.write_bytes(client_cert.public_bytes(pem))
    write_key(client_key, files.client_key)
    return files
