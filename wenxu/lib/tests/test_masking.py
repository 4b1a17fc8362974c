"""Masking of personal data (DESIGN §7): what each shape shows, and what it must never show."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wenxu.lib.masking import mask_address, mask_id_number, mask_name, mask_phone

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # mainland mobiles, with or without the country code
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("008613812345678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("  13812345678\n", "138****5678"),
        # landlines with an area code: the area code and the last four digits
        ("0571-88886666", "0571****6666"),
        ("(0571) 88886666", "0571****6666"),
        ("０５７１－８８８８６６６６", "0571****6666"),
        ("010 12345678", "010****5678"),
        ("020-87654321", "020****4321"),
        ("0571-8888666", "0571***8666"),
        ("0371 1234567", "0371***4567"),
        # local numbers without an area code: the last two digits (these used to leak)
        ("1234567", "*****67"),
        ("88886666", "******66"),
        ("8888 6666", "******66"),
        ("８８８８６６６６", "******66"),
        ("12345", "***45"),
        # too short to be anyone's number: nothing
        ("1234", "****"),
        ("110", "***"),
        # anything else of nine digits or more: the last four
        ("012345678", "*****5678"),
        ("23812345678", "*******5678"),
        ("+852 9123 4567", "*******4567"),
        ("0571-88886666-123", "***********6123"),
        ("13812345678 转 8", "********6788"),
        ("01112345678", "*******5678"),
        # nothing, or no digits at all
        ("", ""),
        ("   ", ""),
        ("无", "****"),
        ("zhangsan@example.com", "****"),
    ],
)
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧***"),
        ("李", "*"),
        (" 张三 ", "张*"),
        ("阿卜杜·热合曼", "阿******"),
        ("John Smith", "J*********"),
        ("Ｊｏｈｎ", "J***"),
        ("J", "*"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_mask_name(raw, masked):
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # 18-digit resident ID: region, then only the sequence and check digit
        ("110101199003071234", "110101********1234"),
        ("11010119900307123X", "110101********123X"),
        ("11010119900307123x", "110101********123x"),
        ("１１０１０１１９９００３０７１２３４", "110101********1234"),
        (" 110101 19900307 1234 ", "110101********1234"),
        # 15-digit old ID (region, YYMMDD, sequence): the birth date stays hidden
        ("110101900307123", "110101******123"),
        # passports and other documents: the last four
        ("E12345678", "*****5678"),
        ("G1234567", "****4567"),
        ("1234567890123456", "************3456"),
        # short values: nothing
        ("AB123", "*****"),
        ("1234567", "*******"),
        ("1234", "****"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_mask_id_number(raw, masked):
    assert mask_id_number(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("青山县东河镇李家村3组12号", "青山县东河镇李家村****"),
        ("青山县东河镇李家村３组１２号", "青山县东河镇李家村****"),
        (" 青山县东河镇 3 组 ", "青山县东河镇****"),
        ("12号楼3单元", "****"),
        ("青山县东河镇李家村", "青山县东****"),
        ("北京", "北****"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_address(raw, masked):
    assert mask_address(raw) == masked


# --------------------------------------------------------------------------- properties

digit_strings = st.text(alphabet="0123456789", min_size=5, max_size=20)


def _conventional_shape(masked: str) -> bool:
    """The two shapes DESIGN §7 shows by convention: 138****5678 and 0571****6666."""
    return bool(re.fullmatch(r"1\d\d\*{4}\d{4}|0\d{2,3}\*+\d{4}", masked))


@given(digit_strings)
def test_masked_phone_never_shows_five_digits_in_a_row(digits):
    masked = mask_phone(digits)

    assert not re.search(r"\d{5}", masked)


@given(digit_strings)
def test_masked_phone_shows_at_most_half_of_an_unconventional_number(digits):
    masked = mask_phone(digits)
    visible = sum(ch.isdigit() for ch in masked)

    assert visible * 2 <= len(digits) or _conventional_shape(masked)
    assert len(masked) <= len(digits)


@given(digit_strings, st.data())
def test_masked_phone_ignores_separators_and_full_width_digits(digits, data):
    separators = st.sampled_from(["", "", "", " ", "-", "\u3000", "－"])
    decorated = "".join(ch + data.draw(separators) for ch in digits)
    if data.draw(st.booleans()):
        decorated = decorated.translate(FULL_WIDTH)

    assert mask_phone(decorated) == mask_phone(digits)
