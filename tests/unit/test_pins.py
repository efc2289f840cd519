import hashlib
import hmac

from nacl.bindings import crypto_pwhash_str_verify

from federation.case_access import PinPolicy
from federation.crypto import pins
from federation.crypto.encoding import b64u_encode

PEPPER = b"p" * 32


def test_reference_shape_and_entropy():
    references = {pins.new_reference() for _ in range(2000)}
    assert len(references) == 2000
    for reference in list(references)[:50]:
        assert pins.normalise_reference(reference) == reference
        assert set(reference.replace("-", "")) <= set(pins.REFERENCE_ALPHABET)
    # 12 symbols of 32 = 60 bits, the floor.
    assert len(pins.REFERENCE_ALPHABET) ** (pins.REFERENCE_GROUPS * pins.REFERENCE_GROUP_LENGTH) >= 2**60


def test_reference_normalisation_reads_lookalikes():
    assert pins.normalise_reference("abcd efgh jk1o") == "ABCD-EFGH-JK10"
    assert pins.normalise_reference("ILOU-0000-0000") == "110V-0000-0000"
    assert pins.normalise_reference("ABCD-EFGH-JK1") is None
    assert pins.normalise_reference("ABCD-EFGH-JK1!") is None


def test_pin_hash_verifies_only_with_pin_and_pepper():
    stored = pins.hash_pin("12345678", PEPPER, memory_kib=4096, passes=3)
    assert stored.startswith("$argon2id$v=19$m=4096,t=3,p=1$") and "12345678" not in stored
    assert pins.verify_pin("12345678", stored, PEPPER)
    assert not pins.verify_pin("12345679", stored, PEPPER)
    assert not pins.verify_pin("12345678", stored, b"q" * 32)


def test_pin_hash_is_argon2id_of_the_peppered_pin():
    """A standard PHC string over HMAC-SHA256(pepper, PIN): any Argon2 library can check it."""
    stored = pins.hash_pin("12345678", PEPPER, memory_kib=1024, passes=2)
    peppered = hmac.new(PEPPER, b"12345678", hashlib.sha256).digest()
    assert crypto_pwhash_str_verify(stored.encode(), peppered)


def test_scrypt_hashes_stored_before_argon2id_still_verify():
    salt = b"s" * 16
    peppered = hmac.new(PEPPER, b"12345678", hashlib.sha256).digest()
    digest = hashlib.scrypt(peppered, salt=salt, n=1024, r=8, p=1, dklen=32)
    stored = f"scrypt$1024$8$1${b64u_encode(salt)}${b64u_encode(digest)}"
    assert pins.verify_pin("12345678", stored, PEPPER)
    assert not pins.verify_pin("12345679", stored, PEPPER)


def test_same_pin_hashes_differently_each_time():
    assert (pins.hash_pin("1" * 8, PEPPER, memory_kib=1024, passes=2)
            != pins.hash_pin("1" * 8, PEPPER, memory_kib=1024, passes=2))


def test_lock_grows_and_is_capped():
    policy = PinPolicy(pepper=PEPPER, lock_base_seconds=60, lock_max_seconds=3600)
    assert [policy.lock_seconds(n) for n in (1, 2, 3, 7, 50)] == [60, 120, 240, 3600, 3600]
