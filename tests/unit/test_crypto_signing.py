"""Ed25519 over raw keys, RFC 7638 key ids, and the Signer."""
from __future__ import annotations

import pytest

from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.errors import CryptoError, SignatureError
from federation.crypto.signing import Signer, generate_keypair, key_id, public_key_of, sign, verify

# RFC 8037 appendix A.1-A.4.
RFC_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC_SIG = ("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")


def test_rfc8037_public_key_from_private():
    assert b64u_encode(public_key_of(b64u_decode(RFC_D))) == RFC_X


def test_rfc8037_thumbprint_is_the_kid():
    assert key_id(b64u_decode(RFC_X)) == RFC_KID


def test_rfc8037_signature():
    # Ed25519 is deterministic: the same key and input give the RFC's exact signature.
    assert b64u_encode(sign(b64u_decode(RFC_D), RFC_INPUT)) == RFC_SIG
    verify(b64u_decode(RFC_X), RFC_INPUT, b64u_decode(RFC_SIG))


def test_rfc8037_signature_fails_on_changed_input():
    with pytest.raises(SignatureError):
        verify(b64u_decode(RFC_X), RFC_INPUT + b".", b64u_decode(RFC_SIG))


def test_every_flipped_signature_bit_fails():
    public, signature = b64u_decode(RFC_X), b64u_decode(RFC_SIG)
    for position in range(len(signature) * 8):
        tampered = bytearray(signature)
        tampered[position // 8] ^= 1 << (position % 8)
        with pytest.raises(SignatureError):
            verify(public, RFC_INPUT, bytes(tampered))


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65, "not bytes"])
def test_malformed_signature_raises(signature):
    with pytest.raises(SignatureError):
        verify(b64u_decode(RFC_X), RFC_INPUT, signature)


@pytest.mark.parametrize("public", [b"", b"\x01" * 31, b"\x01" * 33, None])
def test_malformed_public_key_raises(public):
    with pytest.raises(SignatureError):
        verify(public, RFC_INPUT, b64u_decode(RFC_SIG))


def test_wrong_key_raises():
    _, other_public = generate_keypair()
    with pytest.raises(SignatureError):
        verify(other_public, RFC_INPUT, b64u_decode(RFC_SIG))


def test_generated_keypair_round_trip():
    private, public = generate_keypair()
    assert len(private) == 32 and len(public) == 32
    assert public_key_of(private) == public
    assert generate_keypair()[0] != private
    verify(public, b"data", sign(private, b"data"))


def test_sign_refuses_str_and_bad_private_key():
    private, _ = generate_keypair()
    with pytest.raises(TypeError):
        sign(private, "text")
    with pytest.raises(CryptoError):
        sign(private[:31], b"data")


def test_key_id_refuses_bad_length():
    with pytest.raises(CryptoError):
        key_id(b"\x00" * 31)


def test_signer_derives_kid_and_signs():
    signer = Signer(b64u_decode(RFC_D))
    assert signer.kid == RFC_KID
    assert signer.public_raw == b64u_decode(RFC_X)
    assert b64u_encode(signer.sign(RFC_INPUT)) == RFC_SIG


def test_signer_checks_a_given_kid():
    assert Signer(b64u_decode(RFC_D), kid=RFC_KID).kid == RFC_KID
    _, other_public = generate_keypair()
    with pytest.raises(CryptoError):
        Signer(b64u_decode(RFC_D), kid=key_id(other_public))


def test_signer_repr_hides_the_private_key():
    private = b64u_decode(RFC_D)
    text = repr(Signer(private))
    assert RFC_KID in text
    assert RFC_D not in text and private.hex() not in text
