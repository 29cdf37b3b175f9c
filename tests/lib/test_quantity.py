"""Resource quantities: grammar, canonical text, exact arithmetic."""

from __future__ import annotations

import decimal
import fractions

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeling.lib import quantity as q


@pytest.mark.parametrize(
    ("text", "served"),
    [
        ("0", "0"),
        ("1000m", "1"),
        ("1.5Gi", "1536Mi"),
        ("0.1", "100m"),
        ("1.5", "1500m"),
        ("1500", "1500"),
        ("15000", "15k"),
        ("2000m", "2"),
        ("1200m", "1200m"),
        ("1024Mi", "1Gi"),
        ("1Ki", "1Ki"),
        ("1536", "1536"),
        ("0.5Ki", "512"),
        ("1.1Gi", "1181116006400m"),
        ("-1.5Gi", "-1536Mi"),
        ("100n", "100n"),
        ("0.1n", "1n"),
        ("0.1m", "100u"),
        ("1e3", "1e3"),
        ("1.5e3", "1500"),
        ("1e-3", "1e-3"),
        ("12e6", "12e6"),
        ("1000E", "1000E"),
        ("1000000k", "1G"),
        ("8Ei", "9223372036854775807"),
        ("-0", "0"),
        ("0Mi", "0"),
        ("0.0", "0"),
        ("1.", "1."),  # upstream keeps this spelling too
        (".5", "500m"),
        # upstream keeps text that already looks canonical, even with a sign or capital E
        ("+1k", "+1k"),
        ("05", "05"),
        ("1E3", "1E3"),
        # upstream's scanner reads a missing number as zero
        ("m", "0"),
        ("-", "0"),
        (5, "5"),
        (0.5, "500m"),
        (1e16, "10e15"),
    ],
)
def test_served_text(text: str | float, served: str) -> None:
    assert str(q.parse(text)) == served


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "quantities must match the regular expression"),
        (" 1", "quantities must match the regular expression"),
        ("1 ", "quantities must match the regular expression"),
        ("1.5.5", "quantities must match the regular expression"),
        ("abc", "quantities must match the regular expression"),
        ("1K", "unable to parse quantity's suffix"),
        ("1ee3", "unable to parse quantity's suffix"),
        ("1e", "unable to parse quantity's suffix"),
        ("1Ki1", "unable to parse quantity's suffix"),
        ("1mi", "unable to parse quantity's suffix"),
        ("1e99999999999", "unable to parse quantity's suffix"),
        ("1e5000", "too large"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(q.QuantityError, match=message):
        q.parse(text)


def test_rejects_non_numbers() -> None:
    for bad in (True, None, float("nan"), float("inf"), [1]):
        with pytest.raises(q.QuantityError):
            q.parse(bad)  # type: ignore[arg-type]
    assert issubclass(q.QuantityError, ValueError)
    assert not q.is_quantity("1x") and q.is_quantity("1")


def test_formats() -> None:
    assert q.parse("1Gi").format == q.BINARY_SI
    assert q.parse("1G").format == q.DECIMAL_SI
    assert q.parse("1").format == q.DECIMAL_SI
    assert q.parse("1e3").format == q.DECIMAL_EXPONENT
    assert q.parse("0.5Ki").format == q.BINARY_SI
    assert q.parse("0.0001Ki").format == q.DECIMAL_SI  # below one


def test_values() -> None:
    assert q.parse("100m").value() == 1
    assert q.parse("100m").milli_value() == 100
    assert q.parse("1.0001m").milli_value() == 2
    assert q.parse("-1.5").value() == -2
    assert q.parse("2Ki").value() == 2048
    assert q.parse("250m").decimal == decimal.Decimal("0.25")
    assert q.parse("250m").as_fraction() == fractions.Fraction(1, 4)
    assert q.parse("3").nanos == 3 * 10**9


def test_arithmetic_and_order() -> None:
    a, b = q.parse("1.5Gi"), q.parse("512Mi")
    assert str(a + b) == "2Gi"
    assert str(a - b) == "1Gi"
    assert str(q.parse("0") + b) == "512Mi"  # a zero left side takes the right's format
    assert str(q.parse("100m") + q.parse("900m")) == "1"
    assert str(-q.parse("1k")) == "-1k"
    assert str(q.parse("250m") * 4) == "1"
    assert sum([q.parse("1"), q.parse("2")]) == 3
    assert q.parse("1Gi") > q.parse("1G")
    assert q.parse("1000m") == q.parse("1") == 1
    assert hash(q.parse("1000m")) == hash(q.parse("1")) == hash(1)
    assert sorted([q.parse("1k"), q.parse("1Ki"), q.parse("999")]) == [q.parse("999"), q.parse("1k"), q.parse("1Ki")]
    assert q.parse("1") != "1"
    assert q.Quantity.from_milli(1500) == q.parse("1.5")
    assert str(q.Quantity.from_int(2048, q.BINARY_SI)) == "2Ki"
    assert repr(q.parse("1Gi")) == "Quantity('1Gi')"


def test_canonical_helper() -> None:
    assert q.canonical("1000m") == "1"
    assert q.parse("+1k").canonical() == "1k"


# ---- properties -----------------------------------------------------------------------------

_suffix = st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E",
                           "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3", "e-3", "E6", "e0", "e-9", "e+2"])
_texts = st.builds(
    lambda sign, whole, frac, suffix: f"{sign}{whole}{frac}{suffix}",
    st.sampled_from(["", "-", "+"]),
    st.integers(min_value=0, max_value=10**20).map(str),
    st.one_of(st.just(""), st.text(alphabet="0123456789", max_size=12).map(lambda d: "." + d)),
    _suffix,
)


def _exact(text: str) -> fractions.Fraction:
    """The value a quantity text denotes, before upstream's rounding and capping."""
    for suffix, factor in [("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("Pi", 2**50),
                           ("Ei", 2**60)]:
        if text.endswith(suffix):
            return fractions.Fraction(decimal.Decimal(text[: -len(suffix)] or "0")) * factor
    dec = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
    if text[-1:] in dec:
        return fractions.Fraction(decimal.Decimal(text[:-1])) * fractions.Fraction(10) ** dec[text[-1]]
    return fractions.Fraction(decimal.Decimal(text))


@given(_texts)
def test_round_trip(text: str) -> None:
    parsed = q.parse(text)
    served = str(parsed)
    again = q.parse(served)
    assert again == parsed
    assert str(again) == served  # the served form is stable
    assert q.parse(parsed.canonical()) == parsed
    assert q.parse(parsed.canonical()).canonical() == parsed.canonical()


@given(_texts)
def test_value_is_exact_up_to_nano_rounding(text: str) -> None:
    parsed = q.parse(text)
    exact = _exact(text)
    got = parsed.as_fraction()
    if parsed.format == q.BINARY_SI and abs(exact) > 2**63 - 1:
        assert abs(got) == 2**63 - 1
    else:
        assert abs(got - exact) < fractions.Fraction(1, 10**9)
        assert abs(got) >= abs(exact)  # rounded up in magnitude, never down


@given(_texts, _texts)
def test_order_matches_values(a: str, b: str) -> None:
    qa, qb = q.parse(a), q.parse(b)
    da, db = qa.decimal, qb.decimal
    assert (qa < qb) == (da < db)
    assert (qa == qb) == (da == db)
    assert (qa + qb).as_fraction() == qa.as_fraction() + qb.as_fraction()
    assert (qa - qb).as_fraction() == qa.as_fraction() - qb.as_fraction()


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from([q.DECIMAL_SI, q.BINARY_SI,
                                                                             q.DECIMAL_EXPONENT]))
def test_canonical_form_has_no_fraction(nanos: int, fmt: str) -> None:
    text = str(q.Quantity(nanos, fmt))
    assert "." not in text
    assert q.parse(text).nanos == nanos
