"""Keys at rest, the JWKS, the KeySet verifier and feed entry verification."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from federation.crypto.canonical import canonical_json
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.errors import CryptoError, KeyStatusError, SignatureError, UnknownKeyError
from federation.crypto.keys import (
    KeySet,
    entry_signing_bytes,
    load_signer,
    new_kek,
    open_private_key,
    parse_kek,
    public_jwk,
    seal_private_key,
    verify_entry,
)
from federation.crypto.signing import Signer, generate_keypair, key_id

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 6, 1, tzinfo=UTC)


def make_signer() -> Signer:
    return Signer(generate_keypair()[0])


def jwk_of(signer: Signer, status: str = "active") -> dict:
    return public_jwk(signer.kid, signer.public_raw, status, T0, None if status == "active" else T1)


def signed_entry(signer: Signer, **fields) -> dict:
    entry = {"seq": 42, "op": "add", "type": "pdq", "value": "f8" * 32, "quality": 100,
             "id": "r_4kq9", "v": 1} | fields
    signature = signer.sign(canonical_json(entry))
    return entry | {"sig": b64u_encode(signature), "kid": signer.kid}


# --- KEK ---

def test_new_kek_parses_to_32_bytes_and_is_random():
    text = new_kek()
    assert len(parse_kek(text)) == 32
    assert parse_kek(text + "\n") == parse_kek(text)  # a trailing newline from a secrets file
    assert new_kek() != text


@pytest.mark.parametrize("text", [
    "", b64u_encode(b"\x00" * 31), b64u_encode(b"\x00" * 33),
    b64u_encode(b"\x07" * 32) + "=", "!" * 43, None,
])
def test_parse_kek_rejects_bad_input_without_echoing_it(text):
    with pytest.raises(ValueError) as caught:
        parse_kek(text)
    if text:
        assert text.strip() not in str(caught.value)


# --- sealed private keys ---

@pytest.fixture
def sealed():
    private, public = generate_keypair()
    kek, kid = parse_kek(new_kek()), key_id(public)
    return private, kek, kid, seal_private_key(private, kek, kid)


def test_seal_round_trip_and_format(sealed):
    private, kek, kid, blob = sealed
    assert open_private_key(blob, kek, kid) == private
    assert blob[0] == 1 and len(blob) == 61
    assert private not in blob
    assert seal_private_key(private, kek, kid) != blob  # fresh nonce each time


def test_wrong_kek_fails(sealed):
    _, _, kid, blob = sealed
    with pytest.raises(CryptoError):
        open_private_key(blob, parse_kek(new_kek()), kid)


def test_wrong_kid_fails(sealed):
    _, kek, kid, blob = sealed
    with pytest.raises(CryptoError):
        open_private_key(blob, kek, kid[:-1] + ("A" if kid[-1] != "A" else "B"))


def test_every_flipped_bit_of_the_blob_fails(sealed):
    _, kek, kid, blob = sealed
    for position in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[position // 8] ^= 1 << (position % 8)
        with pytest.raises(CryptoError):
            open_private_key(bytes(tampered), kek, kid)


@pytest.mark.parametrize("cut", [slice(0, 60), slice(0, 0)])
def test_truncated_or_extended_blob_fails(sealed, cut):
    _, kek, kid, blob = sealed
    with pytest.raises(CryptoError):
        open_private_key(blob[cut], kek, kid)
    with pytest.raises(CryptoError):
        open_private_key(blob + b"\x00", kek, kid)


def test_seal_refuses_bad_lengths():
    private, public = generate_keypair()
    with pytest.raises(ValueError):
        seal_private_key(private[:31], parse_kek(new_kek()), key_id(public))
    with pytest.raises(ValueError):
        seal_private_key(private, b"\x00" * 16, key_id(public))


def test_load_signer_checks_the_kid(sealed):
    private, kek, kid, blob = sealed
    signer = load_signer(blob, kek, kid)
    assert signer.kid == kid
    # A blob sealed under a kid that is not its key's thumbprint is refused on load.
    other_kid = key_id(generate_keypair()[1])
    with pytest.raises(CryptoError):
        load_signer(seal_private_key(private, kek, other_kid), kek, other_kid)


# --- JWKS ---

def test_public_jwk_of_active_key():
    signer = make_signer()
    assert public_jwk(signer.kid, signer.public_raw, "active", T0, None) == {
        "kty": "OKP", "crv": "Ed25519", "x": b64u_encode(signer.public_raw), "kid": signer.kid,
        "use": "sig", "alg": "EdDSA", "status": "active", "nbf": int(T0.timestamp()),
    }


def test_public_jwk_of_retired_key_has_exp():
    jwk = jwk_of(make_signer(), "retired")
    assert jwk["status"] == "retired" and jwk["exp"] == int(T1.timestamp()) == 1748736000


@pytest.mark.parametrize(("status", "not_before", "not_after"), [
    ("expired", T0, T1),
    ("active", T0, T1),                      # an active key has no end yet
    ("retired", T0, None),                   # a retired key has one
    ("active", datetime(2025, 1, 1), None),  # naive datetime
    ("revoked", T0, datetime(2025, 6, 1)),
])
def test_public_jwk_refuses_inconsistent_input(status, not_before, not_after):
    signer = make_signer()
    with pytest.raises(ValueError):
        public_jwk(signer.kid, signer.public_raw, status, not_before, not_after)


def test_keyset_round_trips_public_jwks():
    signers = [make_signer() for _ in range(3)]
    keyset = KeySet.from_jwks({"keys": [jwk_of(signers[0]), jwk_of(signers[1], "retired"),
                                        jwk_of(signers[2], "revoked")]})
    assert len(keyset) == 3 and all(s.kid in keyset for s in signers)
    assert keyset.get(signers[1].kid).status == "retired"
    assert keyset.get(signers[1].kid).not_after == int(T1.timestamp())


def _mutations():
    def set_(key, value):
        return lambda jwk: jwk.__setitem__(key, value)

    def drop(key):
        return lambda jwk: jwk.pop(key)

    other_x = b64u_encode(generate_keypair()[1])
    return {
        "kty": set_("kty", "EC"), "crv": set_("crv", "X25519"), "use": set_("use", "enc"),
        "alg": set_("alg", "ES256"), "no alg": drop("alg"), "no x": drop("x"),
        "x padded": lambda j: j.__setitem__("x", j["x"] + "="),
        "x short": set_("x", b64u_encode(b"\x01" * 31)),
        "x of another key": set_("x", other_x), "kid": set_("kid", "k1"), "no kid": drop("kid"),
        "status": set_("status", "expired"), "no status": drop("status"),
        "nbf str": set_("nbf", "1735689600"), "nbf bool": set_("nbf", True), "no nbf": drop("nbf"),
        "exp on active": set_("exp", 2000000000),
        "private d": set_("d", b64u_encode(b"\x00" * 32)),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_keyset_rejects_malformed_jwk(name):
    jwk = jwk_of(make_signer())
    _mutations()[name](jwk)
    with pytest.raises(CryptoError):
        KeySet.from_jwks({"keys": [jwk]})


@pytest.mark.parametrize("doc", [None, [], {}, {"keys": {}}, {"keys": ["x"]}, {"keys": [None]}])
def test_keyset_rejects_malformed_document(doc):
    with pytest.raises(CryptoError):
        KeySet.from_jwks(doc)


def test_keyset_rejects_retired_key_without_exp_or_exp_before_nbf():
    jwk = jwk_of(make_signer(), "retired")
    no_exp = {k: v for k, v in jwk.items() if k != "exp"}
    backwards = jwk | {"exp": jwk["nbf"] - 1}
    for bad in (no_exp, backwards):
        with pytest.raises(CryptoError):
            KeySet.from_jwks({"keys": [bad]})


def test_keyset_rejects_duplicate_kid():
    jwk = jwk_of(make_signer())
    with pytest.raises(CryptoError):
        KeySet.from_jwks({"keys": [jwk, dict(jwk)]})


def test_keyset_ignores_unknown_members():
    # RFC 7517 section 4: unrecognised members are ignored, so the format can grow.
    jwk = jwk_of(make_signer()) | {"x5u": "https://example.org"}
    assert jwk["kid"] in KeySet.from_jwks({"keys": [jwk], "note": "extra"})


def test_keyset_accepts_fully_specified_alg():
    jwk = jwk_of(make_signer()) | {"alg": "Ed25519"}
    assert jwk["kid"] in KeySet.from_jwks({"keys": [jwk]})


# --- KeySet.verify ---

@pytest.fixture
def rotation():
    """An old retired key, the current active key, and a revoked key."""
    old, current, bad = make_signer(), make_signer(), make_signer()
    keyset = KeySet.from_jwks({"keys": [jwk_of(old, "retired"), jwk_of(current),
                                        jwk_of(bad, "revoked")]})
    return old, current, bad, keyset


def test_active_and_retired_keys_verify(rotation):
    old, current, _, keyset = rotation
    for signer in (old, current):
        keyset.verify(b"data", b64u_encode(signer.sign(b"data")), signer.kid)


def test_unknown_kid(rotation):
    stranger = make_signer()
    with pytest.raises(UnknownKeyError):
        rotation[3].verify(b"data", b64u_encode(stranger.sign(b"data")), stranger.kid)


def test_revoked_key_refused_even_with_a_good_signature(rotation):
    _, _, bad, keyset = rotation
    with pytest.raises(KeyStatusError):
        keyset.verify(b"data", b64u_encode(bad.sign(b"data")), bad.kid)


def test_bad_signature_is_a_signature_error_not_a_key_error(rotation):
    _, current, _, keyset = rotation
    with pytest.raises(SignatureError) as caught:
        keyset.verify(b"other", b64u_encode(current.sign(b"data")), current.kid)
    assert not isinstance(caught.value, (UnknownKeyError, KeyStatusError))


@pytest.mark.parametrize("signature", ["", "not base64!", "AA==", None])
def test_malformed_signature_text(rotation, signature):
    _, current, _, keyset = rotation
    with pytest.raises(SignatureError):
        keyset.verify(b"data", signature, current.kid)


def test_signature_by_another_known_key_fails(rotation):
    old, current, _, keyset = rotation
    with pytest.raises(SignatureError):
        keyset.verify(b"data", b64u_encode(old.sign(b"data")), current.kid)


def test_validity_window_checked_when_asked(rotation):
    old, _, _, keyset = rotation
    signature = b64u_encode(old.sign(b"data"))
    keyset.verify(b"data", signature, old.kid, at=T0 + timedelta(days=1))
    for outside in (T0 - timedelta(seconds=1), T1):
        with pytest.raises(KeyStatusError):
            keyset.verify(b"data", signature, old.kid, at=outside)


# --- feed entries ---

def test_entry_verifies_and_returns_signed_bytes(rotation):
    _, current, _, keyset = rotation
    entry = signed_entry(current)
    data = verify_entry(entry, keyset)
    assert data == entry_signing_bytes(entry)
    assert b'"sig"' not in data and b'"kid"' not in data


def test_entry_by_retired_key_still_verifies(rotation):
    old, _, _, keyset = rotation
    verify_entry(signed_entry(old), keyset)


def test_delete_entry_without_quality_verifies(rotation):
    _, current, _, keyset = rotation
    entry = signed_entry(current, op="delete", type="md5", value="ab" * 16)
    del entry["quality"]
    entry["sig"] = b64u_encode(current.sign(entry_signing_bytes(entry)))
    verify_entry(entry, keyset)


TAMPERED = {
    "seq": [43, 41, 0, "42", True], "op": ["delete", "ADD", ""], "type": ["phash", "md5"],
    "value": ["f8" * 31 + "f9", "F8" * 32, "f8" * 32 + " "], "quality": [99, 50, None, "100"],
    "id": ["r_4kq8", "r_4kq9 "], "v": [2, 0, "1"],
}


@pytest.mark.parametrize(("field", "value"),
                         [(f, v) for f, values in TAMPERED.items() for v in values])
def test_tampering_any_field_fails(rotation, field, value):
    _, current, _, keyset = rotation
    entry = signed_entry(current)
    entry[field] = value
    with pytest.raises(SignatureError):
        verify_entry(entry, keyset)


@pytest.mark.parametrize("field", ["seq", "op", "type", "value", "quality", "id", "v"])
def test_removing_any_field_fails(rotation, field):
    _, current, _, keyset = rotation
    entry = signed_entry(current)
    del entry[field]
    with pytest.raises(SignatureError):
        verify_entry(entry, keyset)


def test_adding_a_field_fails(rotation):
    _, current, _, keyset = rotation
    with pytest.raises(SignatureError):
        verify_entry(signed_entry(current) | {"case": "ref"}, keyset)


@pytest.mark.parametrize("value", [42.0, 2**53])
def test_values_we_never_sign_fail_as_signature_errors(rotation, value):
    _, current, _, keyset = rotation
    entry = signed_entry(current) | {"seq": value}
    with pytest.raises(SignatureError):
        verify_entry(entry, keyset)


def test_tampered_sig_fails(rotation):
    _, current, _, keyset = rotation
    entry = signed_entry(current)
    other = signed_entry(current, seq=43)
    for sig in (other["sig"], entry["sig"][:-2] + ("AA" if entry["sig"][-2:] != "AA" else "AQ")):
        with pytest.raises(SignatureError):
            verify_entry(entry | {"sig": sig}, keyset)


def test_tampered_kid_fails(rotation):
    old, current, bad, keyset = rotation
    entry = signed_entry(current)
    with pytest.raises(SignatureError):
        verify_entry(entry | {"kid": old.kid}, keyset)
    with pytest.raises(KeyStatusError):
        verify_entry(entry | {"kid": bad.kid}, keyset)
    with pytest.raises(UnknownKeyError):
        verify_entry(entry | {"kid": "nope"}, keyset)


def test_entry_by_revoked_key_fails(rotation):
    _, _, bad, keyset = rotation
    with pytest.raises(KeyStatusError):
        verify_entry(signed_entry(bad), keyset)


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("sig"), lambda e: e.pop("kid"),
    lambda e: e.__setitem__("sig", None), lambda e: e.__setitem__("kid", 7),
])
def test_entry_without_sig_or_kid_fails(rotation, mutate):
    _, current, _, keyset = rotation
    entry = copy.deepcopy(signed_entry(current))
    mutate(entry)
    with pytest.raises(SignatureError):
        verify_entry(entry, keyset)


def test_non_object_entry_fails(rotation):
    with pytest.raises(SignatureError):
        verify_entry(["seq", 1], rotation[3])


def test_signed_bytes_do_not_depend_on_field_order(rotation):
    _, current, _, keyset = rotation
    entry = signed_entry(current)
    verify_entry(dict(reversed(list(entry.items()))), keyset)


def test_jwks_with_a_private_key_never_verifies_anything():
    signer = make_signer()
    jwk = jwk_of(signer) | {"d": b64u_encode(b64u_decode(b64u_encode(b"\x01" * 32)))}
    with pytest.raises(CryptoError):
        KeySet.from_jwks({"keys": [jwk]})
