"""The English catalogue: complete, placeholders intact, and the committed .mo matches the .po.

After changing a translatable string, from wenxu/:
    ../.venv/bin/wenxu makemessages -l en --no-obsolete --ignore "tests/*" --ignore "*/tests/*"
then translate the new entries in locale/en/LC_MESSAGES/django.po and run
    ../.venv/bin/wenxu compilemessages -l en
"""

import ast
import gettext as stdlib_gettext
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext

from wenxu.needs.states import Action, Outcome, Status

MESSAGES = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES"
PO = MESSAGES / "django.po"
MO = MESSAGES / "django.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{\w*\}")


@dataclass
class Entry:
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    line: int = 0


def _parse_po(path: Path) -> list[Entry]:
    """A small .po reader: flags, msgctxt, msgid(_plural), msgstr[n]; obsolete `#~` skipped."""
    entries: list[Entry] = []
    entry = Entry()
    key: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, key, started
        if started:
            entries.append(entry)
        entry, key, started = Entry(), None, False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if started:
                finish()
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            if started:
                finish()
            continue
        if line.startswith('"'):
            assert key is not None, f"{path}:{number}: continuation line without a keyword"
            text = ast.literal_eval(line)
        else:
            keyword, _sep, rest = line.partition(" ")
            text = ast.literal_eval(rest.strip())
            if keyword == "msgctxt" or (keyword == "msgid" and started and key != ("msgctxt", 0)):
                finish()
            if not started:
                entry.line = number
                started = True
            match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if match:
                key = ("msgstr", int(match.group(1)))
            elif keyword in {"msgctxt", "msgid", "msgid_plural", "msgstr"}:
                key = (keyword, 0)
            else:
                raise AssertionError(f"{path}:{number}: unexpected line {raw!r}")
            if key[0] == "msgstr":
                entry.msgstr[key[1]] = ""
            elif key[0] == "msgctxt":
                entry.msgctxt = ""
            elif key[0] == "msgid_plural":
                entry.msgid_plural = ""
        name, index = key
        if name == "msgstr":
            entry.msgstr[index] += text
        elif name == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + text
        elif name == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + text
        else:
            entry.msgid += text
    finish()
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return _parse_po(PO)


def _where(entry: Entry) -> str:
    return f"{PO.name}:{entry.line} {entry.msgid!r}"


def test_catalogue_is_complete_and_reviewed(entries: list[Entry]) -> None:
    header = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(header) == 1
    assert "Language: en\n" in header[0].msgstr[0]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header[0].msgstr[0]
    messages = [e for e in entries if e is not header[0]]
    assert len(messages) > 300  # the parser really read the catalogue
    assert not [_where(e) for e in entries if "fuzzy" in e.flags]
    untranslated = [_where(e) for e in messages if not all(e.msgstr.values()) or not e.msgstr]
    assert not untranslated
    plurals = [e for e in messages if e.msgid_plural is not None]
    assert plurals
    assert all(sorted(e.msgstr) == [0, 1] for e in plurals)


def test_placeholders_are_kept(entries: list[Entry]) -> None:
    broken = []
    for entry in entries:
        if not entry.msgid:
            continue
        wanted = sorted(PLACEHOLDER.findall(entry.msgid))
        for text in entry.msgstr.values():
            if sorted(PLACEHOLDER.findall(text)) != wanted:
                broken.append(_where(entry))
    assert not broken


def test_msgfmt_reports_no_untranslated_or_fuzzy() -> None:
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (gettext) is not installed")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [msgfmt, "--check", "--statistics", "-o", "/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
        env={"LC_ALL": "C", "PATH": str(Path(msgfmt).parent)},
    )
    assert result.returncode == 0, result.stderr
    assert "translated message" in result.stderr
    assert "untranslated" not in result.stderr
    assert "fuzzy" not in result.stderr


def test_key_strings_in_english() -> None:
    with translation.override("en"):
        stale = gettext("该记录已被他人修改，请刷新")
        assert stale.startswith("This record has been changed by someone else")
        assert str(Status.REGISTERED.label) == "Registered"
        assert str(Status.IN_PROGRESS.label) == "In progress"
        assert str(Status.CLOSED.label) == "Closed"
        assert str(Outcome.PLANNED.label) == "Planned"
        assert str(Action.ASSIGN.label) == "Assign"
        assert gettext("登录") == "Log in"
        assert gettext("登录问需") == "Log in to wenxu"
        assert gettext("问需") == "wenxu"
        assert gettext("面对面问需") == "Face-to-face needs asking"
        assert pgettext("app", "诉求台账") == "Needs ledger"
        one = ngettext("已吊销 %(count)d 个令牌。", "已吊销 %(count)d 个令牌。", 1) % {"count": 1}
        many = ngettext("已吊销 %(count)d 个令牌。", "已吊销 %(count)d 个令牌。", 3) % {"count": 3}
        assert (one, many) == ("Revoked 1 token.", "Revoked 3 tokens.")
        # Django's own catalogues still apply alongside the project's.
        assert gettext("This field is required.") == "This field is required."
    with translation.override("zh-hans"):
        assert str(Status.REGISTERED.label) == "已登记"


def test_committed_mo_matches_po(tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (gettext) is not installed")
    fresh = tmp_path / "django.mo"
    subprocess.run(  # noqa: S603 - fixed arguments
        [msgfmt, "--check-format", "-o", str(fresh), str(PO)], check=True, capture_output=True
    )
    assert MO.exists(), "run: wenxu compilemessages -l en"

    def catalog(path: Path) -> dict[object, str]:
        with path.open("rb") as fp:
            entries = dict(stdlib_gettext.GNUTranslations(fp)._catalog)  # type: ignore[attr-defined]
        entries.pop("", None)  # the header: only dates change when nothing else does
        return entries

    committed, expected = catalog(MO), catalog(fresh)
    assert committed.keys() == expected.keys(), "django.mo is stale: run compilemessages -l en"
    changed = sorted(str(k) for k in expected if committed[k] != expected[k])
    assert not changed, "django.mo is stale: run compilemessages -l en"
