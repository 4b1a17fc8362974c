"""The single `wenxu` command: Django's manage.py plus wenxu's own commands."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wenxu.settings")
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["demo"]:
        # The demo's accounts share a printed password; `wenxu demo` may use them as they are,
        # any other start of the same database makes each account change it (ADR 0017).
        os.environ.setdefault("WENXU_DEMO", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["wenxu", *args])


if __name__ == "__main__":
    main()
