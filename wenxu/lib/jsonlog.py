"""JSON log lines (issue #10): `WENXU_LOG_FORMAT=json` puts this formatter on every handler.

One object per line, for a log collector (Loki, Elasticsearch, 阿里云 SLS…):

    {"time": "2026-11-30T10:00:05.123+08:00", "level": "INFO", "logger": "wenxu.sweep",
     "message": "…", "exception": "Traceback …"}

`time` is local time (Asia/Shanghai) with its offset; `exception` and `stack` appear when the
record has them. The personal-data filter (wenxu.lib.logfilter) runs before the formatter, so
the message and the traceback are masked here as in text lines. Other attributes of a record are
left out on purpose, except those in EXTRA_FIELDS: Django attaches the request object to its
error records, and its text (the full URL with its query string) could carry search words or
keys that the text format never writes.
"""

import logging
from datetime import datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

# Record attributes written as they are: the HTTP status of Django's request errors, the
# access fields of `wenxu serve` (gunicorn; masked where they are made), and the request's id
# (wenxu.lib.requestid).
EXTRA_FIELDS = ("status_code", "http", "request_id")


class JsonFormatter(_LibraryJsonFormatter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,  # Chinese stays readable in the collector
            **kwargs,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # Local time: Django sets the process's zone to TIME_ZONE.
        moment = datetime.fromtimestamp(record.created).astimezone()
        return moment.isoformat(timespec="milliseconds")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        for field in self._required_fields:
            log_data[self._get_rename(field)] = record.__dict__.get(field)
        if message_dict.get("exc_info"):
            log_data["exception"] = message_dict["exc_info"]
        if message_dict.get("stack_info"):
            log_data["stack"] = message_dict["stack_info"]
        for field in EXTRA_FIELDS:
            if field in record.__dict__:
                log_data[field] = record.__dict__[field]
