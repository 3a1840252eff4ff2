"""Keeping personal data out of log lines: ID numbers masked, message text withheld.

Installed as the logging record factory in every server process (`install`), so it applies to every
logger and handler, Rasa's and Sanic's included, whatever configured them and whenever: a record's
message is formatted, redacted and frozen as it is created, and so is an exception's traceback.
Rasa writes the user's text into some error lines ("… for user message '…'"); during the lookup
form that text is an ID number or a name, which no pattern can recognise in general, so such text
is withheld whole.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from core.identity import redact_id_numbers

WITHHELD = "[message text withheld]"
# Rasa's lines that quote what a person typed: "… user message '<text>'." / "… message '<text>'"
_QUOTED_MESSAGE = re.compile(r"((?:user )?message(?: text)?\s*)'.*'", re.IGNORECASE | re.DOTALL)
# Rasa's structured debug lines carry the parsed text as a key=value pair.
_PARSE_TEXT = re.compile(r"(parse_data_text|text)=('[^']*'|\"[^\"]*\"|\S+)")

_installed = False


def redact_log_text(text: str) -> str:
    """A log line with quoted message text withheld and ID-shaped numbers masked."""
    text = _QUOTED_MESSAGE.sub(lambda m: f"{m.group(1)}{WITHHELD}", text)
    text = _PARSE_TEXT.sub(lambda m: f"{m.group(1)}={WITHHELD}", text)
    return redact_id_numbers(text)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Freeze the record's message and traceback as redacted text (no args, no live exception)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed log call must not break logging
        message = str(record.msg)
    record.msg, record.args = redact_log_text(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact_log_text(formatted)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact_log_text(record.exc_text)
    return record


def install() -> None:
    """Make every log record of this process pass through `redact_record` (idempotent)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
