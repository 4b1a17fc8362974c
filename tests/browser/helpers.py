"""What many browser tests do: the two viewports, signing in, full-page screenshots, and the
check that a page never scrolls sideways."""

from pathlib import Path
from typing import Any

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def login(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def shoot(page: Any, path: Path) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)


def no_horizontal_scroll(page: Any, viewport: dict[str, int]) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= viewport["width"], f"the page scrolls sideways: {width} px"
