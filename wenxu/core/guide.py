"""The user guide (docs/guide/*.md in a checkout), listed and rendered on the help pages.

The pages are Markdown written for GitHub as much as for the app: images are `img/<name>.png`
and links to other pages `<slug>.md`, both rewritten here to the app's URLs. Raw HTML in the
source is shown as text, never passed through, and only plain link targets survive, so a guide
page cannot put markup or script into the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import markdown
from django.conf import settings
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

GUIDE_DIR = Path(settings.BASE_DIR).parent / "docs" / "guide"

# Whole names only (fullmatch): "$" alone would let a trailing newline through.
SLUG = re.compile(r"[a-z0-9_-]+")
IMAGE_NAME = re.compile(r"[a-z0-9_-]+\.png")
# The overview first, then the roles in the order a need meets them.
ORDER = ["index", "officer", "dispatcher", "handler", "leader", "admin"]
_SAFE_HREF = re.compile(r"^(https?://|mailto:|#|/(?![/\\]))", re.IGNORECASE)
_PAGE_LINK = re.compile(r"(?:\./)?([a-z0-9_-]+)\.md(#[\w-]*)?")
_IMAGE_SRC = re.compile(r"(?:\./)?img/([a-z0-9_-]+\.png)")


@dataclass(frozen=True)
class GuidePage:
    slug: str
    title: str
    summary: str = ""


@dataclass(frozen=True)
class RenderedPage:
    page: GuidePage
    html: SafeString


def pages() -> list[GuidePage]:
    if not GUIDE_DIR.is_dir():
        return []
    found = [_read_head(path) for path in GUIDE_DIR.glob("*.md") if SLUG.fullmatch(path.stem)]
    rank = {slug: i for i, slug in enumerate(ORDER)}
    return sorted(found, key=lambda page: (rank.get(page.slug, len(ORDER)), page.slug))


def _read_head(path: Path) -> GuidePage:
    """The title (the first line, "# …") and the first paragraph's first sentence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    title = lines[0].lstrip("#").strip() if lines else ""
    summary = ""
    for line in lines[1:]:
        text = line.strip()
        if not text:
            if summary:
                break
            continue
        if text.startswith(("#", "!", "|", "-", "*", ">", "```")) or re.match(r"^\d+\.", text):
            if summary:
                break
            continue
        summary += text
    summary = re.sub(r"[*`_]|\[([^\]]*)\]\([^)]*\)", r"\1", summary)
    first = re.match(r"^.+?[。！？]", summary)
    return GuidePage(
        slug=path.stem, title=title or path.stem, summary=first.group(0) if first else summary
    )


def page(slug: str) -> RenderedPage | None:
    """One page as HTML, or None when there is no such page."""
    if not SLUG.fullmatch(slug):
        return None
    path = GUIDE_DIR / f"{slug}.md"
    if not path.is_file():
        return None
    return RenderedPage(page=_read_head(path), html=render(path.read_text(encoding="utf-8")))


def image_path(name: str) -> Path | None:
    """The file of a guide image, only a plain `name.png` directly inside docs/guide/img/."""
    if not IMAGE_NAME.fullmatch(name):
        return None
    folder = (GUIDE_DIR / "img").resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    return path


def render(text: str) -> SafeString:
    md = markdown.Markdown(extensions=["tables", "fenced_code", _GuideExtension()])
    # Safe: raw HTML is not recognised (it stays text and is escaped on output), and the
    # tree processor drops every link target but plain http(s), mail and in-app ones.
    return mark_safe(md.convert(text))  # noqa: S308


class _GuideExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Raw HTML, block and inline, is no longer markup: it is escaped like any text.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_Links(md), "wenxu_guide_links", 0)


class _Links(Treeprocessor):
    """Images and links to other pages pointed at the app's URLs; anything else unsafe dropped."""

    def run(self, root: Element) -> None:
        for element in root.iter():
            if element.tag == "img":
                _image(element)
            elif element.tag == "a":
                _link(element)
        # Tables scroll inside their own box on a phone, not the page.
        for parent in list(root.iter()):
            for i, child in enumerate(list(parent)):
                if child.tag == "table":
                    child.set("class", "table table-sm table-bordered align-middle")
                    box = parent.makeelement("div", {"class": "table-responsive"})
                    box.tail, child.tail = child.tail, "\n"
                    parent.remove(child)
                    box.append(child)
                    parent.insert(i, box)


def _image(element: Element) -> None:
    found = _IMAGE_SRC.fullmatch(element.get("src", ""))
    if found is None:
        element.attrib.pop("src", None)
        return
    element.set("src", reverse("help_image", args=[found.group(1)]))
    element.set("class", "img-fluid")
    element.set("loading", "lazy")


def _link(element: Element) -> None:
    href = element.get("href", "")
    found = _PAGE_LINK.fullmatch(href)
    if found is not None:
        element.set("href", reverse("help_page", args=[found.group(1)]) + (found.group(2) or ""))
    elif not _SAFE_HREF.match(href):
        element.attrib.pop("href", None)
