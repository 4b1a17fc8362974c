"""The single `wenxu` command: Django's manage.py plus wenxu's own commands."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wenxu.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["wenxu", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
