import pytest

from federation.errors import InvalidSignal
from federation.signals import SignalValue, dedupe, hamming_distance, parse_signal


def test_values_are_lower_cased():
    assert parse_signal("md5", "A" * 32) == SignalValue("md5", "a" * 32)


@pytest.mark.parametrize("kind, length", [("pdq", 64), ("phash", 16), ("md5", 32), ("sha256", 64)])
def test_exact_length_per_type(kind, length):
    quality = 90 if kind == "pdq" else None
    assert parse_signal(kind, "0" * length, quality).value == "0" * length
    for wrong in (length - 1, length + 1):
        with pytest.raises(InvalidSignal):
            parse_signal(kind, "0" * wrong, quality)


@pytest.mark.parametrize("value", ["0" * 31 + "\n", " " + "0" * 31, "0x" + "0" * 30, "０" * 32])
def test_only_plain_hex_passes(value):
    with pytest.raises(InvalidSignal):
        parse_signal("md5", value)


def test_pdq_quality_boundary():
    assert parse_signal("pdq", "f" * 64, 50).quality == 50
    with pytest.raises(InvalidSignal) as error:
        parse_signal("pdq", "f" * 64, 49)
    assert error.value.code == "pdq_quality_too_low"
    with pytest.raises(InvalidSignal):
        parse_signal("pdq", "f" * 64, True)


def test_dedupe_keeps_first_in_order():
    a, b = SignalValue("md5", "a" * 32), SignalValue("md5", "b" * 32)
    assert dedupe([a, b, a]) == [a, b]


def test_hamming_distance():
    assert hamming_distance("f" * 64, "f" * 63 + "e") == 1
    assert hamming_distance("0" * 64, "f" * 64) == 256
