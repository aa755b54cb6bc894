"""Sign-in and sign-out, sessions, CSRF, headers, escaping, bad input and languages."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from punchd.app import Actor
from punchd.app import accounts as acc
from punchd.proxies import ClientAddress
from punchd.web import security

from .conftest import EVIL, PASSWORD, ROLE_ACCOUNTS, T0, csrf_of, sign_in


def test_unsigned_pages_go_to_sign_in_and_come_back(anonymous: TestClient) -> None:
    r = anonymous.get("/clocks?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Fclocks%3Fx%3D1"
    page = anonymous.get(r.headers["location"])
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'id="signin"' in page.text
    assert 'value="/clocks?x=1"' in page.text
    done = anonymous.post(
        "/signin",
        data={
            "username": "ALICE",  # any case
            "password": PASSWORD,
            "csrf": csrf_of(page.text),
            "next": "/clocks?x=1",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/clocks?x=1"
    cookie = done.headers["set-cookie"]
    assert "punchd_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http and no https public_url
    assert anonymous.get("/clocks").status_code == 200


def test_next_only_goes_to_local_paths(anonymous: TestClient) -> None:
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        r = sign_in(anonymous, "alice", next_path=bad)
        assert r.status_code == 303 and r.headers["location"] == "/", bad
        anonymous.cookies.clear()
    assert security.local_path("/clocks") == "/clocks"


def test_failed_sign_in_says_the_same_for_everything(site, anonymous: TestClient) -> None:
    acc.disable_account(site, "paul", actor=Actor("t"))
    texts = set()
    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD), ("paul", PASSWORD)):
        r = sign_in(anonymous, name, password)
        assert r.status_code == 401
        texts.add(r.text.split('id="signin-error"')[1].split("</p>")[0])
        assert "punchd_session" not in r.headers.get("set-cookie", "")
        assert password not in r.text  # the password is never echoed
    assert len(texts) == 1 and "Wrong user name or password." in texts.pop()


def test_throttled_sign_in_says_when_to_come_back(anonymous: TestClient) -> None:
    for _ in range(3):  # max_failed_signins = 3
        assert sign_in(anonymous, "harry", "wrong password").status_code == 401
    r = sign_in(anonymous, "harry", PASSWORD)
    assert r.status_code == 429
    assert "Too many attempts, try again in 15 minutes." in r.text


def test_sign_in_form_needs_its_double_submit_token(app) -> None:
    with TestClient(app) as client:
        page = client.get("/signin")
        token = csrf_of(page.text)
        client.cookies.clear()  # a cross-site post: no cookie of ours
        r = client.post(
            "/signin",
            data={"username": "alice", "password": PASSWORD, "csrf": token},
            follow_redirects=False,
        )
        assert r.status_code == 403
        assert "The form expired" in r.text
        assert "punchd_session" not in r.headers.get("set-cookie", "")
        client.get("/signin")
        r = client.post(
            "/signin",
            data={"username": "alice", "password": PASSWORD, "csrf": "forged"},
            follow_redirects=False,
        )
        assert r.status_code == 403


def test_sign_out_ends_the_session_on_the_server(client_for) -> None:
    client = client_for("hr")
    token = client.cookies.get(security.SESSION_COOKIE)
    page = client.get("/clocks")
    assert 'id="signout"' in page.text and ">harry<" in page.text
    r = client.post("/signout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    # the back button asks again (no-store) and a replayed cookie is dead
    client.cookies.set(security.SESSION_COOKIE, token)
    again = client.get("/clocks", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/signin?next=")


def test_idle_expiry_lands_on_sign_in_and_returns(client_for, clock) -> None:
    client = client_for("admin")
    assert client.get("/clocks").status_code == 200
    clock.advance(minutes=31)  # idle_minutes = 30
    r = client.get("/clocks", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Fclocks"
    r = sign_in(client, "alice", next_path="/clocks")
    assert r.headers["location"] == "/clocks"


def test_every_page_has_the_security_headers(client_for, anonymous: TestClient) -> None:
    for response in (anonymous.get("/signin"), client_for("admin").get("/clocks")):
        h = response.headers
        assert h["cache-control"] == "no-store"
        assert "default-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin"
    css = anonymous.get("/static/style.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_post_without_csrf_changes_nothing(client_for, app) -> None:
    client = client_for("hr")
    for data in ({"device": "gate-1"}, {"device": "gate-1", "csrf": "forged"}):
        r = client.post("/clocks/collect", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert "reload" in r.text
    assert app.state.console.jobs._jobs == {}
    r = client.post("/signout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/clocks").status_code == 200  # still signed in


def test_device_names_with_markup_are_escaped(client_for) -> None:
    page = client_for("admin").get("/clocks")
    assert EVIL not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_oversized_posts_are_refused(client_for, app) -> None:
    client = client_for("hr")
    csrf = csrf_of(client.get("/clocks").text)
    big = {"csrf": csrf, "device": "gate-1", "pad": "x" * 5000}  # max_body_bytes = 4096
    r = client.post("/clocks/collect", data=big, follow_redirects=False)
    assert r.status_code == 413
    # no Content-Length: the bytes are counted as they arrive

    def chunks():
        yield f"csrf={csrf}&device=gate-1&pad=".encode()
        for _ in range(10):
            yield b"x" * 1000

    r = client.post(
        "/clocks/collect",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert r.status_code == 413
    assert app.state.console.jobs._jobs == {}


def test_language_from_browser_cookie_and_account(site, anonymous: TestClient) -> None:
    zh = anonymous.get("/signin", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "登录" in zh.text and 'lang="zh-Hans"' in zh.text
    en = anonymous.get("/signin", headers={"accept-language": "de-DE,en;q=0.5"})
    assert "Sign in" in en.text and "登录" not in en.text
    # the switch sets a cookie (before sign-in: the double-submit token)
    r = anonymous.post(
        "/language",
        data={"lang": "zh_Hans", "next": "/signin", "csrf": csrf_of(en.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert "登录" in anonymous.get("/signin", headers={"accept-language": "en"}).text
    # a signed-in account's own language wins, and the switch saves it
    assert sign_in(anonymous, "alice").status_code == 303
    home = anonymous.get("/")
    assert "首页" in home.text
    r = anonymous.post(
        "/language",
        data={"lang": "en", "next": "/", "csrf": csrf_of(home.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert acc.get_account(site, "alice").language == "en"
    anonymous.cookies.set(security.LANG_COOKIE, "zh_Hans")
    assert "Home" in anonymous.get("/").text


def test_dates_follow_the_locale(client_for, clock) -> None:
    clock.value = T0
    client = client_for("admin")
    assert "Today, 2 Mar 2026" in client.get("/").text
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    assert "今天，2026年3月2日" in client.get("/").text


def test_account_page_password_and_sessions(client_for, site) -> None:
    other = client_for("payroll")
    client = client_for("payroll")
    page = client.get("/account")
    assert page.status_code == 200 and 'id="sessions"' in page.text
    assert page.text.count("<tr data-session=") == 2
    csrf = csrf_of(page.text)
    r = client.post(
        "/account/password",
        data={
            "csrf": csrf,
            "old_password": "not it at all",
            "new_password": "a new password 1",
            "new_password_again": "a new password 1",
        },
    )
    assert r.status_code == 400 and "The current password is wrong." in r.text
    r = client.post(
        "/account/password",
        data={
            "csrf": csrf,
            "old_password": PASSWORD,
            "new_password": "a new password 1",
            "new_password_again": "a new password 1",
        },
    )
    assert r.status_code == 200 and "Password changed." in r.text
    assert "a new password 1" not in r.text and PASSWORD not in r.text
    # the other browser was signed out, this one was not
    assert other.get("/", follow_redirects=False).status_code == 303
    assert client.get("/").status_code == 200
    r = client.post("/account/signout-everywhere", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_admin_ends_sessions_and_disables(client_for, site) -> None:
    victim = client_for("hr")
    admin = client_for("admin")
    page = admin.get("/admin/accounts")
    assert page.status_code == 200
    for name in ROLE_ACCOUNTS.values():
        assert f'data-account="{name}"' in page.text
    csrf = csrf_of(page.text)
    r = admin.post(
        "/admin/accounts/harry/end-sessions", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert victim.get("/clocks", follow_redirects=False).status_code == 303
    r = admin.post("/admin/accounts/harry/disable", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and acc.get_account(site, "harry").disabled
    assert sign_in(victim, "harry").status_code == 401
    admin.post("/admin/accounts/harry/enable", data={"csrf": csrf})
    assert not acc.get_account(site, "harry").disabled
    r = admin.post("/admin/accounts/nobody/disable", data={"csrf": csrf})
    assert r.status_code == 404


def test_unknown_pages_and_methods_are_404(client_for) -> None:
    client = client_for("admin")
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/collect/no-such-job").status_code == 404
    assert client.get("/clocks").elapsed < timedelta(seconds=30)


def test_client_address_behind_trusted_proxies() -> None:
    from types import SimpleNamespace

    def request(peer: str, forwarded: str | None = None, proto: str | None = None):
        headers = {}
        if forwarded:
            headers["x-forwarded-for"] = forwarded
        if proto:
            headers["x-forwarded-proto"] = proto

        class H(dict):
            def getlist(self, key):
                return [self[key]] if key in self else []

        return SimpleNamespace(
            client=SimpleNamespace(host=peer),
            headers=H(headers),
            url=SimpleNamespace(scheme="http"),
        )

    address = ClientAddress(["127.0.0.1", "10.0.0.0/8"])
    assert address(request("127.0.0.1", "203.0.113.7")) == "203.0.113.7"
    assert address(request("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3")) == "203.0.113.7"
    assert address(request("192.0.2.1", "203.0.113.7")) == "192.0.2.1"  # not a proxy of ours
    assert address.https(request("127.0.0.1", proto="https"))
    assert not address.https(request("192.0.2.1", proto="https"))
    assert ClientAddress([])(request("127.0.0.1", "203.0.113.7")) == "127.0.0.1"


def test_signing_in_again_ends_the_previous_session(client_for, site) -> None:
    client = client_for("hr")
    old = client.cookies.get(security.SESSION_COOKIE)
    assert sign_in(client, "paul").status_code == 303
    assert client.cookies.get(security.SESSION_COOKIE) != old
    assert acc.list_sessions(site, "harry") == []


def test_every_page_renders_in_both_languages(client_for) -> None:
    client = client_for("admin")
    csrf = csrf_of(client.get("/clocks").text)
    job = client.post("/clocks/collect", data={"csrf": csrf, "device": "gate-2"}).url.path
    for lang, word in (("zh_Hans", "注销"), ("en", "Sign out")):
        client.cookies.set(security.LANG_COOKIE, lang)
        for path in ("/", "/clocks", job, "/account", "/admin/accounts", "/no-such-page"):
            page = client.get(path)
            assert page.status_code in (200, 404), (lang, path)
            assert f'id="signout">{word}<' in page.text, (lang, path)
    client.app.state.console.jobs.wait(30)
