"""Settings refuse unsafe configurations at start-up, with a message that says what to fix."""

import os
import secrets
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from wenxu import settings as wenxu_settings


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


def test_secret_key_file_is_private_from_the_moment_it_exists(tmp_path, monkeypatch):
    monkeypatch.delenv("WENXU_SECRET_KEY", raising=False)
    monkeypatch.setattr(wenxu_settings, "DATA_DIR", tmp_path)
    key_file = tmp_path / "secret_key"
    modes_before_chmod = []
    real_chmod = Path.chmod

    def spying_chmod(self, mode, **kwargs):
        modes_before_chmod.append(stat.S_IMODE(self.stat().st_mode))
        real_chmod(self, mode, **kwargs)

    monkeypatch.setattr(Path, "chmod", spying_chmod)
    old_umask = os.umask(0)  # the most permissive umask an operator could have
    try:
        key = wenxu_settings._data_key("secret_key", "WENXU_SECRET_KEY")
    finally:
        os.umask(old_umask)

    assert all(mode == 0o600 for mode in modes_before_chmod), modes_before_chmod
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == key


def test_two_processes_starting_at_once_end_up_with_one_key(tmp_path, monkeypatch):
    # Given: while this start generates its key, another start (a thread here) reads settings
    monkeypatch.delenv("WENXU_SECRET_KEY", raising=False)
    monkeypatch.setattr(wenxu_settings, "DATA_DIR", tmp_path)
    other: dict[str, str] = {}
    other_start = threading.Thread(
        target=lambda: other.update(key=wenxu_settings._data_key("secret_key", "WENXU_SECRET_KEY"))
    )
    real_token = secrets.token_urlsafe

    def token_while_another_process_starts(nbytes):
        if threading.current_thread() is not other_start:
            other_start.start()
            time.sleep(0.2)  # the other start gets as far as it can before this one writes
        return real_token(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", token_while_another_process_starts)

    # When
    key = wenxu_settings._data_key("secret_key", "WENXU_SECRET_KEY")
    other_start.join(timeout=10)

    # Then: both use the key that is in the file
    assert other["key"] == key == (tmp_path / "secret_key").read_text()


def test_empty_key_file_is_refused_with_what_to_do(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.touch(mode=0o600)

    with pytest.raises(ImproperlyConfigured, match="is empty: delete it"):
        wenxu_settings._read_key_file(key_file, "WENXU_SECRET_KEY", wait=0.1)


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
