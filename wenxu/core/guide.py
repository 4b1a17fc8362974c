"""The user guide (docs/guide/*.md in a checkout), listed on the help page."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

GUIDE_DIR = Path(settings.BASE_DIR).parent / "docs" / "guide"


@dataclass(frozen=True)
class GuidePage:
    slug: str
    title: str


def pages() -> list[GuidePage]:
    if not GUIDE_DIR.is_dir():
        return []
    found = []
    for path in sorted(GUIDE_DIR.glob("*.md")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        title = first[0].lstrip("# ").strip() if first else path.stem
        found.append(GuidePage(slug=path.stem, title=title))
    return found
