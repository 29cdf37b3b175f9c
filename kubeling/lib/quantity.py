"""Resource quantities (``resource.Quantity``): parsing, exact arithmetic, canonical text.

Grammar (as upstream's scanner accepts it)::

    quantity  ::= [sign] number [suffix]
    number    ::= digits | digits "." [digits] | "." digits
    suffix    ::= decimalSI | binarySI | ("e" | "E") [sign] digits
    decimalSI ::= "n" | "u" | "m" | "" | "k" | "M" | "G" | "T" | "P" | "E"
    binarySI  ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"

Like upstream's scanner, a missing number reads as zero (``"m"``, ``"-"``, ``"."``).

Values are kept exactly as an integer number of nano-units: anything finer
than 1n is rounded up (away from zero), so ``0.1n`` is ``1n``. A quantity
remembers the family of its suffix (decimal SI, binary SI or decimal
exponent) and is printed in that family in *canonical form*: the largest
suffix that leaves an integer mantissa, with exponents a multiple of three
(``1000m`` -> ``1``, ``0.1`` -> ``100m``, ``1.5Gi`` -> ``1536Mi``). A binary
quantity below 1024 in magnitude or with a fractional part is printed in
decimal SI. Binary quantities are capped at 2^63-1 in magnitude when parsed.

As upstream does, a string that is already in canonical shape is kept
verbatim (so ``"+1k"`` or ``"1E3"`` round-trip unchanged); arithmetic results
are always printed canonically.

Caveat: decimal exponents are limited to magnitudes below 10^1000 (upstream has
no limit); larger inputs raise :class:`QuantityError` instead of allocating huge
integers.
"""

from __future__ import annotations

import decimal as _decimal
import fractions
import math
from typing import Any

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "REGEX",
    "Quantity",
    "QuantityError",
    "canonical",
    "parse",
]

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

REGEX = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_MESSAGE = f"quantities must match the regular expression '{REGEX}'"
SUFFIX_MESSAGE = "unable to parse quantity's suffix"
NUMERIC_MESSAGE = "unable to parse numeric part of quantity"

NANO = 10**9
_MAX_INT64 = 2**63 - 1
_MAX_EXPONENT = 1000  # see the module docstring

_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BIN_BY_STEP = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")


class QuantityError(ValueError):
    """Text that is not a resource quantity; the message follows upstream's."""


class Quantity:
    """An exact resource amount. Immutable; equality, hashing and ordering use the value only."""

    __slots__ = ("_format", "_nanos", "_text")

    def __init__(self, nanos: int, format: str = DECIMAL_SI, *, text: str | None = None) -> None:
        if format not in (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT):
            raise ValueError(f"unknown quantity format {format!r}")
        self._nanos = int(nanos)
        self._format = format
        self._text = text

    # ---- constructors -----------------------------------------------------------------
    @classmethod
    def from_int(cls, value: int, format: str = DECIMAL_SI) -> Quantity:
        return cls(value * NANO, format)

    @classmethod
    def from_milli(cls, milli: int, format: str = DECIMAL_SI) -> Quantity:
        return cls(milli * 10**6, format)

    # ---- accessors --------------------------------------------------------------------
    @property
    def nanos(self) -> int:
        """The exact value in units of 10^-9."""
        return self._nanos

    @property
    def format(self) -> str:
        return self._format

    @property
    def decimal(self) -> _decimal.Decimal:
        """The exact value as a Decimal."""
        return _decimal.Decimal(f"{self._nanos}e-9")

    def as_decimal(self) -> _decimal.Decimal:
        return self.decimal

    def as_fraction(self) -> fractions.Fraction:
        return fractions.Fraction(self._nanos, NANO)

    def value(self) -> int:
        """The value in whole units, rounded up in magnitude (``100m`` -> 1, ``-1.5`` -> -2)."""
        return _scaled(self._nanos, NANO)

    def milli_value(self) -> int:
        """The value in thousandths, rounded up in magnitude (``1.0001m`` -> 2)."""
        return _scaled(self._nanos, 10**6)

    def is_zero(self) -> bool:
        return self._nanos == 0

    def sign(self) -> int:
        return (self._nanos > 0) - (self._nanos < 0)

    # ---- arithmetic (format of the left operand, unless it is zero) ---------------------
    def _result_format(self, other: Quantity) -> str:
        return other._format if self._nanos == 0 else self._format

    def __add__(self, other: object) -> Quantity:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return Quantity(self._nanos + o._nanos, self._result_format(o))

    def __radd__(self, other: object) -> Quantity:
        # sum() starts from the int 0
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return o + self

    def __sub__(self, other: object) -> Quantity:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return Quantity(self._nanos - o._nanos, self._result_format(o))

    def __rsub__(self, other: object) -> Quantity:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return o - self

    def __neg__(self) -> Quantity:
        return Quantity(-self._nanos, self._format)

    def __abs__(self) -> Quantity:
        return Quantity(abs(self._nanos), self._format)

    def __mul__(self, factor: object) -> Quantity:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Quantity(self._nanos * factor, self._format)

    __rmul__ = __mul__

    # ---- comparison -------------------------------------------------------------------
    def _key(self, other: object) -> tuple[int, int] | None:
        o = _coerce(other)
        return None if o is None else (self._nanos, o._nanos)

    def __eq__(self, other: object) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else k[0] == k[1]

    def __lt__(self, other: object) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else k[0] < k[1]

    def __le__(self, other: object) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else k[0] <= k[1]

    def __gt__(self, other: object) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else k[0] > k[1]

    def __ge__(self, other: object) -> bool:
        k = self._key(other)
        return NotImplemented if k is None else k[0] >= k[1]

    def __hash__(self) -> int:
        # equal to hash() of an equal int, since __eq__ accepts ints
        return hash(fractions.Fraction(self._nanos, NANO))

    def __bool__(self) -> bool:
        return self._nanos != 0

    # ---- text -------------------------------------------------------------------------
    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        return _canonical(self._nanos, self._format)

    def canonical(self) -> str:
        """The canonical text, even when the quantity was parsed from another spelling."""
        return _canonical(self._nanos, self._format)

    def to_json(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"


def _coerce(other: object) -> Quantity | None:
    if isinstance(other, Quantity):
        return other
    if isinstance(other, int) and not isinstance(other, bool):
        return Quantity(other * NANO)
    return None


def _scaled(nanos: int, unit: int) -> int:
    q, r = divmod(abs(nanos), unit)
    if r:
        q += 1
    return -q if nanos < 0 else q


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------


def _scan(s: str) -> tuple[bool, str, str, str]:
    """(positive, numerator digits without leading zeros, fraction digits, suffix)."""
    n = len(s)
    pos = 0
    positive = True
    if n and s[0] in "+-":
        positive = s[0] == "+"
        pos = 1
    while pos < n and s[pos] == "0":
        pos += 1
    if pos >= n:
        return positive, "0", "", ""
    start = pos
    while pos < n and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    denom = ""
    if pos < n and s[pos] == ".":
        pos += 1
        start = pos
        while pos < n and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
    suffix_start = pos
    while pos < n and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < n and s[pos] in "+-":
        pos += 1
    while pos < n and s[pos] in _DIGITS:
        pos += 1
    if pos < n:
        raise QuantityError(FORMAT_MESSAGE)
    return positive, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]
        digits = body[1:] if body[0] in "+-" else body
        if digits and all(c in _DIGITS for c in digits):
            exp = int(body)
            if -(2**31) <= exp < 2**31:
                return 10, exp, DECIMAL_EXPONENT
    raise QuantityError(SUFFIX_MESSAGE)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def parse(value: str | float) -> Quantity:
    """Parse a quantity from its text (or a JSON number); raise QuantityError when malformed."""
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        raise QuantityError(FORMAT_MESSAGE)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(FORMAT_MESSAGE)
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        raise QuantityError(FORMAT_MESSAGE)
    if not text:
        raise QuantityError(FORMAT_MESSAGE)
    if text == "0":
        return Quantity(0, DECIMAL_SI, text="0")

    positive, num, denom, suffix = _scan(text)
    base, exp, fmt = _interpret(suffix)
    digits = int(num + denom)
    keep_text = _is_canonical_spelling(num, denom, base, exp, digits)

    if base == 10:
        shift = exp - len(denom) + 9  # power of ten that turns ``digits`` into nano-units
        if shift > _MAX_EXPONENT:
            raise QuantityError(f"quantity {text!r} is too large")
        if shift >= 0:
            nanos = digits * 10**shift
        elif -shift > len(num) + len(denom) + 1:
            nanos = 1 if digits else 0  # smaller than 1n: rounds up to 1n
        else:
            nanos = _ceil_div(digits, 10**-shift)
    else:
        scaled = digits << exp
        if len(denom) <= 9:
            nanos = scaled * 10 ** (9 - len(denom))
        else:
            nanos = _ceil_div(scaled, 10 ** (len(denom) - 9))
        if nanos > _MAX_INT64 * NANO:
            nanos = _MAX_INT64 * NANO
            keep_text = False
        if 0 < nanos < NANO:
            fmt = DECIMAL_SI
    if not positive:
        nanos = -nanos
    return Quantity(nanos, fmt, text=text if keep_text else None)


def _is_canonical_spelling(num: str, denom: str, base: int, exp: int, digits: int) -> bool:
    """Whether upstream keeps the input text as the quantity's string form.

    Upstream reuses the text when its int64 fast path applies and the mantissa
    already looks canonical; the rules below restate those conditions.
    """
    if base == 10:
        scale = exp - len(denom)
        if len(num) + len(denom) > 18 or scale < -9:
            return False
        shifted = num + denom
        return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    if denom:
        return False
    precision = 15 - len(num) - (exp * 3) // 10 - 1
    if precision < 0 or (digits << exp) > _MAX_INT64:
        return False
    return exp % 10 == 0 and digits & 0x07 != 0


def _canonical(nanos: int, fmt: str) -> str:
    if nanos == 0:
        return "0"
    sign = "-" if nanos < 0 else ""
    mag = abs(nanos)
    if fmt == BINARY_SI and mag >= 1024 * NANO and mag % NANO == 0:
        n = mag // NANO
        step = 0
        while step < 6 and n % 1024 == 0:
            n //= 1024
            step += 1
        return f"{sign}{n}{_BIN_BY_STEP[step]}"
    mantissa, exp = mag, -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exp += 1
    down = exp % 3  # lower the exponent to a multiple of three
    mantissa *= 10**down
    exp -= down
    if fmt == DECIMAL_EXPONENT:
        return f"{sign}{mantissa}" + (f"e{exp}" if exp else "")
    if exp > 18:
        mantissa *= 10 ** (exp - 18)
        exp = 18
    return f"{sign}{mantissa}{_DEC_BY_EXP[exp]}"


def canonical(value: str | float) -> str:
    """The text a quantity is served as (parse, then print)."""
    return str(parse(value))


def is_quantity(value: Any) -> bool:
    """Whether ``value`` parses as a quantity."""
    try:
        parse(value)
    except QuantityError:
        return False
    return True
