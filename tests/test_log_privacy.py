"""core.log_privacy: no ID number and no typed text survive into a log line, tracebacks included."""

from __future__ import annotations

import io
import logging

import pytest

from core.log_privacy import WITHHELD, install, redact_log_text, redact_record

RAW_ID = "11010519491231002X"


@pytest.mark.parametrize(
    "line",
    [
        f"Message handling timed out for user message '{RAW_ID}'.",
        f"An exception occured while handling user message '我叫张三，身份证{RAW_ID}'.",
        f"Received user message '{RAW_ID}' with intent '{{'name': 'inform'}}'",
        f"processor.message.parse parse_data_text={RAW_ID} parse_data_intent=inform",
    ],
)
def test_rasa_lines_that_quote_the_user_lose_the_text(line: str) -> None:
    redacted = redact_log_text(line)
    assert RAW_ID not in redacted and "张三" not in redacted
    assert WITHHELD in redacted


def test_id_numbers_anywhere_are_masked_and_other_text_kept() -> None:
    assert redact_log_text(f"lookup for {RAW_ID} failed") == "lookup for 110105********002X failed"
    assert redact_log_text("Action server failed on 'action_answer_topic' (TimeoutError)") == (
        "Action server failed on 'action_answer_topic' (TimeoutError)"
    )


def test_a_record_with_args_and_a_traceback_is_frozen_redacted() -> None:
    try:
        raise ValueError(f"bad input {RAW_ID}")
    except ValueError:
        record = logging.LogRecord("rasa.x", logging.ERROR, __file__, 1, "user message '%s'", (RAW_ID,), None)
        import sys

        record.exc_info = sys.exc_info()
    redact_record(record)
    assert record.args == () and RAW_ID not in record.getMessage()
    assert record.exc_info is None and RAW_ID not in (record.exc_text or "")
    assert "ValueError" in (record.exc_text or "")


def test_installed_factory_covers_every_logger_and_handler() -> None:
    install()
    install()  # idempotent
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("sanic.error.test_log_privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("user message '%s'", RAW_ID)
        try:
            raise RuntimeError(RAW_ID)
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert RAW_ID not in output
    assert "RuntimeError" in output and WITHHELD in output
