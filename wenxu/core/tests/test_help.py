"""帮助: the user guide from docs/guide/ listed at /help/, a page rendered from its Markdown at
/help/<slug>/ with its images from /help/img/<name>.png, nothing else on disk reachable, and no
raw HTML from the source passed into the page."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from wenxu.core import guide

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ROLE_PAGES = ["officer", "dispatcher", "handler", "leader", "admin"]


@pytest.fixture
def guide_dir(tmp_path: Path, monkeypatch) -> Path:
    """A small guide: an overview, two role pages, one image; a secret next to the guide."""
    root = tmp_path / "docs" / "guide"
    (root / "img").mkdir(parents=True)
    (root / "index.md").write_text(
        "# 使用指南\n\n问需的使用说明，按角色分页。\n\n- [走访干部](officer.md)\n", encoding="utf-8"
    )
    (root / "officer.md").write_text(
        "# 走访干部\n\n走访干部把听到的诉求登记进台账。每天先看工作台。\n\n"
        "![工作台](img/home-officer.png)\n\n见 [调度员](dispatcher.md#assign)。\n",
        encoding="utf-8",
    )
    (root / "dispatcher.md").write_text("# 调度员\n\n调度员分拣交办。\n", encoding="utf-8")
    (root / "img" / "home-officer.png").write_bytes(PNG)
    (root / "README.txt").write_text("not a page", encoding="utf-8")
    (tmp_path / "docs" / "secret.md").write_text("# 机密\n", encoding="utf-8")
    (tmp_path / "docs" / "secret.png").write_bytes(PNG)
    monkeypatch.setattr(guide, "GUIDE_DIR", root)
    return root


@pytest.fixture
def officer_client(client, world):
    client.force_login(world.officer)
    return client


@pytest.mark.parametrize(
    "url",
    ["/help/", "/help/officer/", "/help/img/home-officer.png"],
)
def test_help_needs_login(client, guide_dir, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_help_index_lists_the_pages_overview_first_then_by_role(officer_client, guide_dir):
    response = officer_client.get("/help/")

    assert response.status_code == 200
    html = response.content.decode()
    links = re.findall(r'href="(/help/[a-z0-9_-]+/)"', html)
    assert links == ["/help/index/", "/help/officer/", "/help/dispatcher/"]
    assert "走访干部" in html
    assert "走访干部把听到的诉求登记进台账。" in html  # the first sentence as a summary
    assert "每天先看工作台" not in html


def test_navbar_links_to_help(officer_client, guide_dir):
    html = officer_client.get(reverse("home")).content.decode()
    assert f'href="{reverse("help")}"' in html


def test_help_page_renders_markdown_with_its_images_from_the_help_url(officer_client, guide_dir):
    response = officer_client.get("/help/officer/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>走访干部</h1>" in html
    assert (
        '<img alt="工作台" class="img-fluid" loading="lazy" src="/help/img/home-officer.png"'
        in html
    )
    # links between pages lead to the app's pages, not to the .md files
    assert 'href="/help/dispatcher/#assign"' in html
    # the list of pages beside it marks the current one
    assert re.search(r'class="[^"]*active"[^>]*href="/help/officer/"', html)

    image = officer_client.get("/help/img/home-officer.png")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == PNG


def test_raw_html_in_the_markdown_is_shown_as_text(officer_client, guide_dir):
    (guide_dir / "evil.md").write_text(
        "# 标题\n\n<script>alert('x')</script>\n\n"
        '行内 <img src="x" onerror="alert(1)"> 和 <b>粗体</b>\n\n'
        "[点我](javascript:alert(1)) [外链](https://example.com) [协议相对](//evil.example)"
        " [反斜杠](/\\evil.example) [站内](/ledger/)\n\n"
        "| 列 |\n|---|\n| <iframe src=x></iframe> |\n\n"
        "![外部图片](https://evil.example/track.png)\n",
        encoding="utf-8",
    )

    html = officer_client.get("/help/evil/").content.decode()
    page = html[html.index('data-testid="guide-page"') :]

    # the tags appear as the text they are, not as markup
    assert "<script>" not in page
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in page
    assert '<img src="x"' not in page
    assert '&lt;img src="x" onerror="alert(1)"&gt;' in page
    assert "<b>" not in page
    assert "&lt;b&gt;粗体&lt;/b&gt;" in page
    assert "<iframe" not in page
    assert "&lt;iframe src=x&gt;&lt;/iframe&gt;" in page
    # and links keep only safe targets
    assert "javascript:" not in page
    assert 'href="//evil.example"' not in page
    assert 'evil.example"' not in page
    assert 'href="/ledger/"' in page
    assert 'href="https://example.com"' in page
    assert "evil.example/track.png" not in page  # images only from the guide's img folder


@pytest.mark.parametrize(
    "url",
    [
        "/help/nope/",
        "/help/secret/",  # docs/secret.md, outside the guide
        "/help/README/",
        "/help/..%2Fsecret/",
        "/help/%2e%2e/",
        "/help/Officer/",
    ],
)
def test_unknown_or_outside_pages_answer_404(officer_client, guide_dir, url):
    response = officer_client.get(url)
    assert response.status_code == 404
    assert "未找到" in response.content.decode()


@pytest.mark.parametrize(
    "name",
    [
        "../secret.png",
        "..%2Fsecret.png",
        "%2e%2e%2fsecret.png",
        "..%5Csecret.png",
        "....//secret.png",
        "HOME-OFFICER.png",
        "home-officer.PNG",
        "home-officer.png.txt",
        "home officer.png",
        "missing.png",
        "link.png",  # a link inside img/ to a file outside it
        "%00.png",
        "home-officer.png%0A",  # "$" in a pattern would let the newline through
    ],
)
def test_images_outside_the_img_folder_answer_404(officer_client, guide_dir, name):
    (guide_dir / "img" / "link.png").symlink_to(guide_dir.parent / "secret.png")

    response = officer_client.get(f"/help/img/{name}")

    assert response.status_code == 404


def test_image_path_accepts_only_plain_names_inside_the_folder(guide_dir):
    (guide_dir / "img" / "link.png").symlink_to(guide_dir.parent / "secret.png")
    assert guide.image_path("home-officer.png") == (guide_dir / "img" / "home-officer.png")
    for name in [
        "../secret.png",
        "/etc/passwd.png",
        "link.png",
        "img/home-officer.png",
        "home-officer.png\n",
        "",
    ]:
        assert guide.image_path(name) is None


def test_without_the_guide_the_help_page_says_where_to_find_it(
    officer_client, monkeypatch, tmp_path
):
    monkeypatch.setattr(guide, "GUIDE_DIR", tmp_path / "not-installed")

    response = officer_client.get("/help/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="no-guide"' in html
    assert "docs/guide/" in html
    assert officer_client.get("/help/officer/").status_code == 404
    assert officer_client.get("/help/img/home-officer.png").status_code == 404


# --------------------------------------------------------------------------- the real guide


def test_the_shipped_guide_has_a_page_per_role_and_every_image_it_shows():
    root = Path(guide.GUIDE_DIR)
    assert root.is_dir(), "docs/guide/ is missing from the checkout"
    slugs = [page.slug for page in guide.pages()]
    assert slugs[:6] == ["index", *ROLE_PAGES]
    for slug in slugs:
        text = (root / f"{slug}.md").read_text(encoding="utf-8")
        assert text.startswith("# "), f"{slug}.md must start with its title"
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
            assert re.fullmatch(r"img/[a-z0-9_-]+\.png", target), f"{slug}.md: {target}"
            assert guide.image_path(target.removeprefix("img/")) is not None, (
                f"{slug}.md shows {target}, which is missing: run the guide screenshots "
                "(WENXU_GUIDE_SCREENSHOTS=1 pytest tests/browser/test_guide_screenshots.py)"
            )
        for target in re.findall(r"\]\(([a-z0-9_-]+)\.md", text):
            assert target in slugs, f"{slug}.md links to {target}.md, which does not exist"


def test_every_shipped_page_renders(officer_client):
    for page in guide.pages():
        response = officer_client.get(reverse("help_page", args=[page.slug]))
        assert response.status_code == 200
        assert page.title in response.content.decode()


def test_the_shipped_images_stay_small():
    images = list((Path(guide.GUIDE_DIR) / "img").glob("*.png"))
    assert images
    assert sum(path.stat().st_size for path in images) < 3 * 1024 * 1024
