"""Both Ed25519 verification backends (libsodium via PyNaCl, OpenSSL via cryptography)
accept our signatures and refuse everything else alike."""
import pytest

from federation.crypto import signing
from federation.crypto.errors import SignatureError


@pytest.fixture(params=["libsodium", "openssl"])
def backend(request, monkeypatch):
    if request.param == "openssl":
        monkeypatch.setattr(signing, "_sodium_open", None)
    else:
        assert signing._sodium_open is not None, "PyNaCl is part of the [partner] and [test] extras"
    return request.param


def test_valid_signature_verifies(backend):
    private, public = signing.generate_keypair()
    signing.verify(public, b"entry", signing.sign(private, b"entry"))


@pytest.mark.parametrize("mutate", ["data", "signature", "key"])
def test_anything_changed_is_refused(backend, mutate):
    private, public = signing.generate_keypair()
    data, signature = b"entry", signing.sign(private, b"entry")
    if mutate == "data":
        data = b"entrY"
    elif mutate == "signature":
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    else:
        public = signing.generate_keypair()[1]
    with pytest.raises(SignatureError):
        signing.verify(public, data, signature)


def test_a_key_that_is_not_a_curve_point_is_refused(backend):
    private, _ = signing.generate_keypair()
    with pytest.raises(SignatureError):
        signing.verify(b"\xff" * 32, b"entry", signing.sign(private, b"entry"))
