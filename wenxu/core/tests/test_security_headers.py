"""Security headers on pages, API answers and static files; HTTPS settings in production mode;
templates that a Content-Security-Policy without 'unsafe-inline' can serve (issue #9, ADR 0018)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

import wenxu

PACKAGE = Path(wenxu.__file__).resolve().parent


def _policy(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_common_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response["Permissions-Policy"]
    assert "camera=(self)" in permissions
    assert "geolocation=(self)" in permissions
    assert "microphone=()" in permissions
    policy = _policy(response["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def test_html_page_carries_every_security_header(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    _assert_common_headers(response)
    assert response["X-Frame-Options"] == "DENY"
    policy = _policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["worker-src"] == ["'self'"]
    assert policy["manifest-src"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'self'"]
    # Plain HTTP (the embedded default): no HSTS, nothing upgraded.
    assert "Strict-Transport-Security" not in response
    assert "upgrade-insecure-requests" not in policy


def test_api_answer_carries_the_security_headers(client):
    response = client.get("/api/v1/areas")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    _assert_common_headers(response)


def test_static_file_carries_the_security_headers(client):
    response = client.get("/static/wenxu/wenxu.css")

    assert response.status_code == 200
    _assert_common_headers(response)


def test_the_printed_reports_style_element_carries_the_nonce_of_its_policy(client, world):
    client.force_login(world.leader)

    response = client.get("/stats/report/")

    assert response.status_code == 200
    nonce = re.search(
        r"'nonce-([^']+)'", _policy(response["Content-Security-Policy"])["style-src"][1]
    )
    assert nonce is not None
    assert f'<style nonce="{nonce[1]}">'.encode() in response.content


def test_policy_allows_no_inline_or_evaluated_code():
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    for name in ("default-src", "script-src", "style-src"):
        assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"} & set(directives[name])
    assert "script-src-attr" not in directives
    assert "style-src-attr" not in directives


def _settings_in_subprocess(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    clean.update({"WENXU_DATA_DIR": str(tmp_path), **env})
    code = (
        "import wenxu.settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER is not None,"
        " s.CONTENT_SECURITY_POLICY['DIRECTIVES']['upgrade-insecure-requests'])"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
    )


def test_production_mode_turns_on_hsts_secure_cookies_and_the_https_redirect(tmp_path):
    result = _settings_in_subprocess(
        tmp_path, WENXU_HTTPS="true", WENXU_SITE_URL="https://wenxu.example.gov.cn"
    )

    assert result.returncode == 0, result.stderr
    # HSTS one year, subdomains, no preload; secure cookies, redirect, proxy header, upgrade.
    assert result.stdout.split() == ["31536000", "True", "False", *["True"] * 5]


def test_embedded_default_keeps_plain_http_working(tmp_path):
    result = _settings_in_subprocess(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "True", "False", *["False"] * 5]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"WENXU_HTTPS": "true", "WENXU_SITE_URL": "http://wenxu.example.gov.cn"},
            "set it to the https:// address",
        ),
        (
            {"WENXU_HSTS_PRELOAD": "true", "WENXU_HSTS_SECONDS": "3600"},
            "WENXU_HSTS_PRELOAD needs",
        ),
    ],
)
def test_inconsistent_https_settings_are_refused(tmp_path, env, message):
    result = _settings_in_subprocess(tmp_path, **env)

    assert result.returncode != 0
    assert message in result.stderr


@override_settings(
    SECURE_SSL_REDIRECT=True,
    SECURE_HSTS_SECONDS=31_536_000,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    ALLOWED_HOSTS=["wenxu.example.gov.cn", "testserver"],
)
def test_behind_the_https_proxy_http_is_redirected_and_https_gets_hsts(client, db):
    plain = client.get("/accounts/login/", headers={"host": "wenxu.example.gov.cn"})
    secure = client.get("/accounts/login/", headers={"x-forwarded-proto": "https"})
    health = client.get("/healthz")

    assert plain.status_code == 301
    assert plain["Location"] == "https://wenxu.example.gov.cn/accounts/login/"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert health.status_code == 200  # the proxy's health check may come over plain HTTP


@override_settings(
    SECURE_SSL_REDIRECT=True,
    SECURE_HSTS_SECONDS=31_536_000,
    SESSION_COOKIE_SECURE=True,
    CSRF_COOKIE_SECURE=True,
    ALLOWED_HOSTS=["wenxu.example.gov.cn"],
)
def test_deploy_check_passes_with_the_production_mode_settings(monkeypatch):
    # The values WENXU_HTTPS=true gives (test above); CI runs the same check on real settings.
    # The browser tests' Playwright needs DJANGO_ALLOW_ASYNC_UNSAFE in the same test process; a
    # deployment never sets it (async.E001).
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    call_command("check", deploy=True, fail_level="WARNING")


# Templates: what the policy would block. `{% … %}` tags and `{# … #}` comments are removed
# first (an include may pass a parameter named `style`).
_TAGS = re.compile(r"{%.*?%}|{#.*?#}", re.DOTALL)
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
_STYLE_ELEMENT = re.compile(r"<style\b(?![^>]*\bnonce=\"{{ request.csp_nonce }}\")[^>]*>")
_EVENT_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.DOTALL)
_EVALUATED = re.compile(r"\shx-on[:-]|javascript:|[\"']js:", re.IGNORECASE)


def _templates() -> list[Path]:
    found = sorted(PACKAGE.glob("**/templates/**/*.html"))
    assert len(found) > 50  # the glob found the templates
    return found


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        (_INLINE_SCRIPT, "an inline <script> (put the code in a static .js file)"),
        (_STYLE_ELEMENT, "a <style> element without the CSP nonce (use a static .css file)"),
        (_EVENT_ATTRIBUTE, "an on…= event attribute (add the listener in a static .js file)"),
        (_STYLE_ATTRIBUTE, "a style= attribute (use a class; wenxu/core/static/wenxu/wenxu.css)"),
        (_EVALUATED, "code that htmx or the browser would evaluate (hx-on, js:, javascript:)"),
    ],
)
def test_no_template_holds_what_the_content_security_policy_blocks(pattern, what):
    offenders = [
        f"{path.relative_to(PACKAGE)}: {match.group(0)[:80]!r}"
        for path in _templates()
        for match in pattern.finditer(_TAGS.sub("", path.read_text()))
    ]

    assert not offenders, f"templates with {what}:\n" + "\n".join(offenders)


def test_template_scan_finds_what_it_looks_for():
    sample = (
        '<script>alert(1)</script><a onclick="x()">a</a><p style="color:red">b</p>'
        '<div hx-on:click="x()"></div>{% include "x.html" with style="btn" %}'
        '<script src="/static/a.js"></script><script type="application/json">{}</script>'
        '<style>p {}</style><style nonce="{{ request.csp_nonce }}">@page {}</style>'
    )
    text = _TAGS.sub("", sample)

    assert len(_INLINE_SCRIPT.findall(text)) == 1
    assert len(_STYLE_ELEMENT.findall(text)) == 1
    assert len(_EVENT_ATTRIBUTE.findall(text)) == 1
    assert len(_STYLE_ATTRIBUTE.findall(text)) == 1
    assert len(_EVALUATED.findall(text)) == 1


@pytest.mark.django_db
def test_a_refused_form_post_gets_a_page_the_policy_allows_in_the_users_language():
    """An expired form (CSRF refusal) used to get Django's page, whose inline <style> the
    policy blocks; the browser tests saw it as a CSP violation on a login retried after the
    session changed under a service worker."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"username": "x", "password": "y"},
        HTTP_REFERER="http://testserver/accounts/login/?next=/visits/",
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert "页面已过期，内容没有提交" in html
    assert 'href="http://testserver/accounts/login/?next=/visits/"' in html
    assert "<style" not in html
    assert " style=" not in html
    _assert_common_headers(response)

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    foreign = client.post("/accounts/login/", {}, HTTP_REFERER="https://evil.example/")
    assert foreign.status_code == 403
    assert "evil.example" not in foreign.content.decode()
    assert "The page expired" in foreign.content.decode()
