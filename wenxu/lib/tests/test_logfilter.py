"""The logging filter (issue #9): no log line carries a mobile number or an ID number."""

import copy
import io
import logging
import logging.config
from collections.abc import Iterator

import pytest
from django.conf import settings

from wenxu.lib.logfilter import MaskPersonalData, mask_text

PHONE = "13812345678"
ID_NUMBER = "11010119900307123X"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through every handler built from the real settings.LOGGING."""
    configurator = logging.config.DictConfigurator(copy.deepcopy(settings.LOGGING))
    config = configurator.config
    for name in list(config.get("filters", {})):
        config["filters"][name] = configurator.configure_filter(config["filters"][name])
    for name in list(config.get("formatters", {})):
        config["formatters"][name] = configurator.configure_formatter(config["formatters"][name])
    stream = io.StringIO()
    logger = logging.getLogger("wenxu.tests.logfilter")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    for name in list(config["handlers"]):
        handler_config = config["handlers"][name]
        handler_config["class"] = "logging.StreamHandler"
        handler_config["stream"] = stream
        handler_config.pop("filename", None)
        logger.addHandler(configurator.configure_handler(handler_config))
    yield logger, stream
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)


def test_every_handler_in_the_settings_masks_personal_data() -> None:
    assert settings.LOGGING["handlers"]
    for name, handler in settings.LOGGING["handlers"].items():
        assert "mask_personal_data" in handler.get("filters", []), name


def test_a_phone_and_an_id_in_the_message_are_masked(logged) -> None:
    logger, stream = logged

    logger.info(f"sent to {PHONE}, ID {ID_NUMBER}")

    line = stream.getvalue()
    assert "138****5678" in line
    assert "110101********123X" in line
    assert PHONE not in line
    assert "19900307" not in line


def test_a_phone_and_an_id_in_the_arguments_are_masked(logged) -> None:
    logger, stream = logged

    logger.warning("text message to %s failed (%s), %d tries", PHONE, {"id": ID_NUMBER}, 3)

    line = stream.getvalue()
    assert "text message to 138****5678 failed" in line
    assert "3 tries" in line
    assert PHONE not in line
    assert "19900307" not in line


def test_a_phone_given_as_a_number_argument_is_masked(logged) -> None:
    logger, stream = logged

    logger.info("number %d", 13812345678)

    assert stream.getvalue().strip() == "number 138****5678"


def test_a_phone_and_an_id_in_an_exception_are_masked(logged) -> None:
    logger, stream = logged

    try:
        raise ValueError(f"bad requester {PHONE} / {ID_NUMBER}")
    except ValueError:
        logger.exception("sending failed")

    text = stream.getvalue()
    assert "Traceback" in text
    assert "ValueError: bad requester 138****5678 / 110101********123X" in text
    assert PHONE not in text
    assert "19900307" not in text


def test_a_record_with_bad_arguments_is_masked_for_the_error_report() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d and %d " + PHONE, (PHONE,), None)

    assert MaskPersonalData().filter(record) is True

    # The handler's error report prints the message and the arguments: both masked.
    assert PHONE not in str(record.msg)
    assert PHONE not in repr(record.args)
    assert "138****5678" in repr(record.args)


@pytest.mark.parametrize(
    "written",
    [
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "１３８１２３４５６７８",
        "＋８６ １３８－１２３４－５６７８",
    ],
)
def test_mobiles_are_masked_however_written(written: str) -> None:
    assert mask_text(f"电话：{written}。") == "电话：138****5678。"


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("110101199003071234", "110101********1234"),
        ("11010119900307123x", "110101********123x"),
        ("１１０１０１１９９００３０７１２３Ｘ", "110101********123X"),
        ("110101 19900307 1234", "110101********1234"),
    ],
)
def test_id_numbers_are_masked(written: str, masked: str) -> None:
    assert mask_text(f"身份证{written}号") == f"身份证{masked}号"


@pytest.mark.parametrize(
    "text",
    [
        "WX-2026-000123",
        "took 1234567 ms",
        "order 123456789012345",  # 15 digits: neither a mobile nor an 18-character ID
        "a run of 1381234567890 thirteen digits",
        "0571-88886666",
        "no digits at all",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_uuids_stay_whole_while_numbers_beside_them_are_masked() -> None:
    job = "7f32c167-4510-8975-a0b1-0123456789ab"
    text = f"task {job} for 13812345678 done; 138-1234-5678"

    masked = mask_text(text)

    assert job in masked
    assert "13812345678" not in masked
    assert masked.count("138****5678") == 2  # the separated one too
