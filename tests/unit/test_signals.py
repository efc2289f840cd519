import pytest

from federation.errors import InvalidSignal
from federation.signals import SignalValue, dedupe, hamming_distance, parse_signal


def test_values_are_lower_cased():
    assert parse_signal("md5", "A" * 32) == SignalValue("md5", "a" * 32)


@pytest.mark.parametrize("kind, length", [("pdq", 64), ("phash", 16), ("md5", 32), ("sha256", 64)])
def test_exact_length_per_type(kind, length):
    quality = 90 if kind == "pdq" else None
    # "a" is 1010: half the bits set, as a picture's PDQ and pHash have.
    assert parse_signal(kind, "a" * length, quality).value == "a" * length
    for wrong in (length - 1, length + 1):
        with pytest.raises(InvalidSignal):
            parse_signal(kind, "a" * wrong, quality)


@pytest.mark.parametrize("value", ["0" * 31 + "\n", " " + "0" * 31, "0x" + "0" * 30, "０" * 32])
def test_only_plain_hex_passes(value):
    with pytest.raises(InvalidSignal):
        parse_signal("md5", value)


def test_pdq_quality_boundary():
    assert parse_signal("pdq", "a" * 64, 50).quality == 50
    with pytest.raises(InvalidSignal) as error:
        parse_signal("pdq", "a" * 64, 49)
    assert error.value.code == "pdq_quality_too_low"
    with pytest.raises(InvalidSignal):
        parse_signal("pdq", "a" * 64, True)


def test_dedupe_keeps_first_in_order():
    a, b = SignalValue("md5", "a" * 32), SignalValue("md5", "b" * 32)
    assert dedupe([a, b, a]) == [a, b]


def test_hamming_distance():
    assert hamming_distance("f" * 64, "f" * 63 + "e") == 1
    assert hamming_distance("0" * 64, "f" * 64) == 256


# --- values no real file has (docs/list-hygiene.md) -------------------------------------
# Written from the definitions, not from federation.rules: MD5 and SHA-256 of b"" by
# hashlib, and PDQ/pHash bit balance from their median threshold (at most half set).

def _with_ones(bits: int, ones: int) -> str:
    return f"{(1 << ones) - 1:0{bits // 4}x}"


@pytest.mark.parametrize("kind", ["md5", "sha256"])
def test_digest_of_empty_input_is_refused(kind):
    import hashlib
    empty = hashlib.new(kind, b"").hexdigest()
    for spelling in (empty, empty.upper()):
        with pytest.raises(InvalidSignal) as error:
            parse_signal(kind, spelling)
        assert error.value.code == "degenerate_signal"
    assert parse_signal(kind, hashlib.new(kind, b"\0").hexdigest()).type == kind


@pytest.mark.parametrize("kind, bits, quality", [("pdq", 256, 100), ("phash", 64, None)])
def test_all_zero_all_one_and_unbalanced_picture_hashes_are_refused(kind, bits, quality):
    # quality 100 is only the sender's claim: the bits decide.
    for ones in (0, bits, bits // 2 + 1, bits - 1, 1, bits * 3 // 8 - 1):
        with pytest.raises(InvalidSignal) as error:
            parse_signal(kind, _with_ones(bits, ones), quality)
        assert error.value.code == "degenerate_signal", ones


@pytest.mark.parametrize("kind, bits, quality, low", [("pdq", 256, 100, 112), ("phash", 64, None, 24)])
def test_balanced_picture_hashes_pass_down_to_the_measured_bound(kind, bits, quality, low):
    for ones in (bits // 2, low):
        assert parse_signal(kind, _with_ones(bits, ones), quality).value == _with_ones(bits, ones)
    with pytest.raises(InvalidSignal):
        parse_signal(kind, _with_ones(bits, low - 1), quality)


def test_a_feedback_reference_may_name_a_degenerate_value_we_hold_from_before():
    from federation.feedback import signal_ref
    assert signal_ref("md5", "d41d8cd98f00b204e9800998ecf8427e").value == "d41d8cd98f00b204e9800998ecf8427e"
