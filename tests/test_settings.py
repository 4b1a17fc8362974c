"""Settings refuse unsafe configurations at start-up, with a message that says what to fix."""

import os
import subprocess
import sys

import pytest


def _import_settings(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    clean.update({"WENXU_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import wenxu.settings as s; print(s.DATABASES['default']['ENGINE'])",
        ],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_embedded_default_is_sqlite_with_a_generated_secret_kept_in_the_data_dir(tmp_path):
    first = _import_settings(tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "django.db.backends.sqlite3"
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    _import_settings(tmp_path)
    assert (tmp_path / "secret_key").read_text() == key  # kept, not regenerated


def test_postgres_url_selects_postgresql(tmp_path):
    result = _import_settings(tmp_path, WENXU_DATABASE_URL="postgres://u@127.0.0.1:5432/wenxu")
    assert result.stdout.strip() == "django.db.backends.postgresql"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WENXU_SECRET_KEY": "short"}, "WENXU_SECRET_KEY must be at least 32 characters"),
        ({"WENXU_ALLOWED_HOSTS": "*"}, "WENXU_ALLOWED_HOSTS='*' is refused"),
        ({"WENXU_DATABASE_URL": "mysql://root@localhost/db"}, "unsupported database"),
    ],
)
def test_unsafe_or_unknown_configuration_is_refused(tmp_path, env, message):
    result = _import_settings(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_sqlite_url_gets_the_same_safe_options_as_the_default(tmp_path):
    code = (
        "import wenxu.settings as s; o = s.DATABASES['default']['OPTIONS'];"
        "print(o['transaction_mode'], 'journal_mode=WAL' in o['init_command'])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    clean.update(
        {"WENXU_DATA_DIR": str(tmp_path), "WENXU_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == ["IMMEDIATE", "True"], result.stderr
