"""The web dashboard in a real browser: Debian's Chromium driven through WebDriver (Selenium,
with chromium-driver), against the gateway binary and the fake upstream of conftest.py.

One browser session for the whole file (it is the slow part): sign-in and sign-out, a wrong
token, a CSRF-less POST, key creation shown once, BYOK set and remove, requests made through
the gateway appearing with their cost, filters, the detail view's cost lines, Overview charts
with data points, the Models search, an org member kept to its org (URL tampering too), and no
console errors on any page. Screenshots of every page at 1280x800 and 390x844 go to
target/dashboard-screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import OPENAI_KEYS, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = ROOT / "target" / "dashboard-screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
BYOK_KEY = "sk-dashboard-byok-0123456789wxyz"
OPENAI_KEYS.add(BYOK_KEY)

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium and chromium-driver (.ci/run installs them)")
    pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


def chat(gateway, key: str, model: str = "gpt-4o-mini", stream: bool = False, headers: dict | None = None):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say hello."}], "stream": stream}).encode()
    req = urllib.request.Request(f"{gateway.url}/v1/chat/completions", data=body, method="POST")
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def org_id(gateway, name: str) -> str:
    return json.loads(gateway.admin("--json", "org", "show", name))["id"]


def post_raw(gateway, path: str, cookie: str, fields: dict) -> int:
    """A form POST outside the browser, with the session cookie (what a forged form sends)."""
    req = urllib.request.Request(f"{gateway.url}{path}", data=urllib.parse.urlencode(fields).encode(), method="POST")
    req.add_header("Cookie", cookie)
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get_status(gateway, path: str, cookie: str) -> int:
    """The status of a GET with this cookie, redirects not followed."""
    req = urllib.request.Request(f"{gateway.url}{path}")
    req.add_header("Cookie", cookie)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="sy-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1280,800", "--disable-dev-shm-usage",
    ]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Ui:
    """The browser plus the checks every page gets: no console errors; screenshots."""

    def __init__(self, driver, gateway):
        self.d = driver
        self.gw = gateway

    def go(self, path: str):
        self.d.get(f"{self.gw.url}{path}")
        WebDriverWait(self.d, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")

    def console_errors(self) -> list:
        return [e for e in self.d.get_log("browser") if e["level"] == "SEVERE"]

    def assert_clean_console(self, page: str):
        errors = self.console_errors()
        assert not errors, f"console errors on {page}: {errors}"

    def shoot(self, name: str):
        """Screenshots at both sizes (charts re-laid out on resize), then back to desktop."""
        for size, (w, h) in SIZES.items():
            self.d.set_window_size(w, h)
            # Charts follow their card's width; wait until none is wider than the page.
            WebDriverWait(self.d, 5).until(lambda d: d.execute_script(
                "return [...document.querySelectorAll('.chart canvas')].every(c => c.getBoundingClientRect().right <= document.documentElement.clientWidth + 1)"))
            self.d.save_screenshot(str(SHOTS / f"{name}-{size}.png"))
        self.d.set_window_size(*SIZES["desktop"])

    def css(self, selector: str):
        return self.d.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str):
        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def wait_css(self, selector: str, timeout: float = 10):
        return WebDriverWait(self.d, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def sign_in(self, token: str):
        self.go("/dashboard/login")
        field = self.css("#token")
        field.clear()
        field.send_keys(token)
        self.css("form button[type=submit]").click()
        WebDriverWait(self.d, 10).until(lambda d: "/login" not in d.current_url or d.find_elements(By.CSS_SELECTOR, ".notice.error"))

    def sign_out(self):
        self.css("#signout").click()
        WebDriverWait(self.d, 10).until(lambda d: "/dashboard/login" in d.current_url)

    def cookie(self) -> str:
        c = self.d.get_cookie("sy_session")
        assert c and c["httpOnly"] and c.get("sameSite") == "Strict", c
        return f"sy_session={c['value']}"


def test_dashboard_in_a_browser(gateway, upstream, browser):
    ui = Ui(browser, gateway)
    key_a = gateway.org("dash-a", "10")
    key_b = gateway.org("dash-b", "10")
    org_a, org_b = org_id(gateway, "dash-a"), org_id(gateway, "dash-b")

    # Real requests through the gateway against the fake upstream.
    answers = []
    for user, feature in [("alice", "search"), ("alice", "chat"), ("bob", "search")]:
        status, headers, _ = chat(gateway, key_a, headers={"x-switchyard-user-id": user, "x-switchyard-property-feature": feature})
        assert status == 200
        answers.append({k.lower(): v for k, v in headers.items()})
    status, _, _ = chat(gateway, key_a, stream=True, headers={"x-switchyard-user-id": "carol"})
    assert status == 200
    status, _, _ = chat(gateway, key_a, model="no-such-model-anywhere")
    assert status == 404
    status, b_headers, _ = chat(gateway, key_b)
    assert status == 200
    b_request = {k.lower(): v for k, v in b_headers.items()}["x-switchyard-request-id"]
    first = answers[0]
    request_id, header_cost = first["x-switchyard-request-id"], Decimal(first["x-switchyard-cost-usd"])
    # The same price from the registry, computed by the CLI from the fixture's usage.
    usage = json.loads((ROOT / "crates/providers/fixtures/openai/response.json").read_text())["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    cli = json.loads(subprocess.run(
        [str(gateway.bin), "cost", "--provider", "openai", "--model", "gpt-4o-mini", "--json",
         "--input", str(usage["prompt_tokens"] - cached), "--cached-input", str(cached), "--output", str(usage["completion_tokens"])],
        capture_output=True, text=True, check=True).stdout)
    assert Decimal(cli["breakdown"]["total"]) == header_cost

    # Not signed in: every page goes to sign-in.
    ui.go(f"/dashboard/o/{org_a}/requests")
    assert "/dashboard/login" in browser.current_url
    ui.assert_clean_console("login")
    ui.shoot("login")

    # A wrong token is refused.
    ui.sign_in("definitely-not-the-admin-token")
    assert "not valid" in ui.css(".notice.error").text
    assert browser.get_cookie("sy_session") is None
    ui.console_errors()  # the 401 answer is logged as a failed load: expected here

    # Operator sign-in: the org list, then an org.
    ui.sign_in(gateway.admin_token)
    assert browser.current_url.endswith("/dashboard/orgs"), browser.current_url
    assert {"dash-a", "dash-b"} <= {a.text for a in ui.all("#orgs td a")}
    ui.assert_clean_console("orgs")
    ui.shoot("orgs")
    cookie = ui.cookie()

    # CSRF: a POST with the session cookie but without the token (or with a wrong one) is refused.
    keys_before = gateway.admin("--json", "key", "list", "--org", "dash-a")
    assert post_raw(gateway, f"/dashboard/o/{org_a}/keys", cookie, {"name": "forged"}) == 403
    assert post_raw(gateway, f"/dashboard/o/{org_a}/keys", cookie, {"name": "forged", "_csrf": "wrong"}) == 403
    assert post_raw(gateway, f"/dashboard/o/{org_a}/credits", cookie, {"amount_usd": "100"}) == 403
    assert gateway.admin("--json", "key", "list", "--org", "dash-a") == keys_before

    # Overview: charts drawn with data points.
    ui.go(f"/dashboard/o/{org_a}/overview")
    chart = ui.wait_css(".chart[data-chart=requests][data-points]")
    assert int(chart.get_attribute("data-points")) >= 2
    assert ui.all(".chart[data-chart=requests] canvas")
    assert int(ui.css(".chart[data-chart=cost]").get_attribute("data-points")) >= 1
    assert int(ui.css(".chart[data-chart=latency]").get_attribute("data-points")) >= 1
    assert "alice" in ui.css("main").text and "no-such-model-anywhere" in ui.css("main").text
    ui.assert_clean_console("overview")
    ui.shoot("overview")
    # Dark mode (prefers-color-scheme), drawn from a fresh load so the charts pick its colours.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    ui.go(f"/dashboard/o/{org_a}/overview")
    ui.wait_css(".chart[data-chart=requests][data-points]")
    assert ui.d.execute_script("return getComputedStyle(document.body).backgroundColor") != "rgb(246, 247, 249)"
    browser.save_screenshot(str(SHOTS / "overview-dark-desktop.png"))
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

    # Requests: every request of org A, with the cost the gateway charged.
    ui.go(f"/dashboard/o/{org_a}/requests")
    rows = ui.all("#requests-table tbody tr")
    assert len(rows) == 5, [r.text for r in rows]
    cell = ui.css(f"tr[data-request-id='{request_id}'] td.cost")
    assert money(cell.text) == header_cost
    assert b_request not in browser.page_source
    ui.assert_clean_console("requests")
    ui.shoot("requests")

    # Filter (htmx swaps the table and pushes the URL): errors only.
    Select(ui.css("select[name=status]")).select_by_value("errors")
    WebDriverWait(browser, 10).until(lambda d: "status=errors" in d.current_url)
    WebDriverWait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#requests-table tbody tr")) == 1)
    assert "404" in ui.css("#requests-table tbody tr").text
    # A bookmarked filter gives the same view: user and property.
    ui.go(f"/dashboard/o/{org_a}/requests?user=alice&property=feature%3Dsearch")
    assert [r.get_attribute("data-request-id") for r in ui.all("#requests-table tbody tr")] == [request_id]
    ui.assert_clean_console("requests filtered")

    # Detail: the cost as lines, adding up to what was charged.
    ui.go(f"/dashboard/o/{org_a}/requests/{request_id}")
    lines = {r.find_elements(By.TAG_NAME, "td")[0].text: r for r in ui.all("#cost-lines tbody tr")}
    assert {"input", "cache read", "output", "Total"} <= set(lines), list(lines)
    assert lines["cache read"].find_elements(By.TAG_NAME, "td")[1].text == f"{cached:,}"
    assert money(lines["Total"].text.split()[-1]) == header_cost
    assert money(ui.css("#detail-cost").text) == header_cost
    assert "Say hello." in ui.css(".chat").text and "Hello! How can I help?" in ui.css(".chat").text
    ui.assert_clean_console("request detail")
    ui.shoot("request-detail")

    # Users and properties.
    ui.go(f"/dashboard/o/{org_a}/users")
    text = ui.css("#results").text
    assert "alice" in text and "bob" in text and "carol" in text
    ui.assert_clean_console("users")
    ui.shoot("users")
    ui.go(f"/dashboard/o/{org_a}/properties?name=feature")
    assert "search" in ui.css("#results").text and "chat" in ui.css("#results").text
    ui.assert_clean_console("properties")
    ui.shoot("properties")

    # Keys: created, shown once, works; gone from the page afterwards.
    ui.go(f"/dashboard/o/{org_a}/keys")
    ui.css("#key-name").send_keys("from-browser")
    ui.css("#create-key").click()
    new_key = ui.wait_css("#new-key").text.strip()
    assert new_key.startswith("sy-")
    ui.assert_clean_console("keys (created)")
    ui.shoot("keys-created")
    assert chat(gateway, new_key)[0] == 200
    ui.go(f"/dashboard/o/{org_a}/keys")
    assert new_key not in browser.page_source and not ui.all("#new-key")
    assert "from-browser" in ui.css("#keys-table").text
    ui.shoot("keys")

    # Providers: a BYOK key set through the form, shown as set + last 4, then removed.
    ui.go(f"/dashboard/o/{org_a}/providers")
    cards = ui.all(".provider")
    assert len(cards) >= 10
    assert all(img.get_attribute("naturalWidth") != "0" for img in ui.all(".provider .logo img")), "every logo loads"
    card = ui.css("#provider-openai")
    card.find_element(By.TAG_NAME, "summary").click()
    card.find_element(By.NAME, "api_key").send_keys(BYOK_KEY)
    card.find_element(By.CSS_SELECTOR, "button.primary").click()
    card = ui.wait_css("#provider-openai .key-set")
    assert "set" in card.text and "…wxyz" in card.text
    assert BYOK_KEY not in browser.page_source
    ui.assert_clean_console("providers")
    ui.shoot("providers")
    status, headers, _ = chat(gateway, key_a)
    assert status == 200 and headers.get("x-switchyard-billing") == "byok"
    assert upstream.requests[-1]["headers"]["authorization"] == f"Bearer {BYOK_KEY}"
    ui.css("#provider-openai .key-set button").click()
    ui.wait_css("#provider-openai .key-missing")
    status, headers, _ = chat(gateway, key_a)
    assert status == 200 and headers.get("x-switchyard-billing") == "ptb"
    # Search narrows the cards.
    ui.css("#provider-search").send_keys("anthropic")
    WebDriverWait(browser, 5).until(lambda d: not d.find_element(By.ID, "provider-openai").is_displayed())
    assert ui.css("#provider-anthropic").is_displayed()

    # Models: search.
    ui.go(f"/dashboard/o/{org_a}/models")
    total = len(ui.all(".model"))
    ui.css("#model-search").send_keys("claude")
    WebDriverWait(browser, 10).until(lambda d: "q=claude" in d.current_url)
    WebDriverWait(browser, 10).until(lambda d: 0 < len(d.find_elements(By.CSS_SELECTOR, ".model")) < total)
    assert all("claude" in m.get_attribute("data-model") for m in ui.all(".model"))
    assert "/1M" in ui.css(".model table").text
    ui.assert_clean_console("models")
    ui.shoot("models")

    # Credits: operator adds credits.
    ui.go(f"/dashboard/o/{org_a}/credits")
    before = money(ui.css("#balance").text)
    ui.css("#credit-amount").send_keys("2.5")
    ui.css("#credit-amount").submit()
    WebDriverWait(browser, 10).until(lambda d: money(d.find_element(By.ID, "balance").text) == before + Decimal("2.5"))
    assert "credit" in ui.css("#ledger").text
    ui.assert_clean_console("credits")
    ui.shoot("credits")

    # Sign out: the session is gone, pages go to sign-in again.
    ui.sign_out()
    assert get_status(gateway, f"/dashboard/o/{org_a}/overview", cookie) == 303
    ui.go(f"/dashboard/o/{org_a}/overview")
    assert "/dashboard/login" in browser.current_url

    # An org member (gateway key of org B) sees only org B.
    ui.sign_in(key_b)
    assert f"/dashboard/o/{org_b}/overview" in browser.current_url, browser.current_url
    assert not ui.all("#org-switch")
    ui.assert_clean_console("member overview")
    ui.go(f"/dashboard/o/{org_b}/requests")
    assert [r.get_attribute("data-request-id") for r in ui.all("#requests-table tbody tr")] == [b_request]
    ui.go(f"/dashboard/o/{org_b}/credits")
    assert not ui.all("#credit-amount"), "members cannot add credits"
    member = ui.cookie()
    for path in [
        f"/dashboard/o/{org_a}/overview",
        f"/dashboard/o/{org_a}/requests",
        f"/dashboard/o/dash-a/keys",
        f"/dashboard/o/{org_a}/requests/{request_id}",
        f"/dashboard/o/{org_b}/requests/{request_id}",
    ]:
        assert get_status(gateway, path, member) == 404, path
        ui.go(path)
        assert "alice" not in browser.page_source and not ui.all("#requests-table, #keys-table")
    ui.console_errors()  # the 404 answers are logged as failed loads: expected here
    ui.go("/dashboard/orgs")
    assert f"/dashboard/o/{org_b}/overview" in browser.current_url
    ui.sign_out()
