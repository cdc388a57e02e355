"""The status page /admin/ in real headless Chromium, against real gunicorn and the simulator.

Lingma starts logged out (LINGMA_SIM_LOGGED_IN=0); the page signs in with the admin key and
logs Lingma in twice: once with the callback opened in the same browser (the browser on the
gateway's machine), once with the callback address pasted into the page (a headless server).
Screenshots of each state (not logged in, login pending, logged in, requests with an error
row), at 390 px (a phone) and 1280 px, are kept in test-artifacts/admin-page/.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.core.simclient import poll
from tests.integration.gateway import API_KEY
from tests.integration.gateway import ROOT
from tests.integration.gateway import Gateway
from tests.integration.tools import require_tool

pytestmark = pytest.mark.integration
ADMIN_KEY = "admin-page-key-4711"
ARTIFACTS = ROOT / "test-artifacts" / "admin-page"
SIM_ACCOUNT = "sim-user@example.com"
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync")
DESKTOP = (1280, 900)
PHONE = (390, 844)
HOSTILE_MODEL = '<b id="xss">bold</b>'
# Loaded into every page before its own script: while `window.staleLoginAnswers` > 0, the
# page's GET /admin/api/login gets "none", as it did from a worker that had not yet synced a
# fresh login (issue 15, item 5).
STALE_LOGIN_ANSWERS = """
(() => {
  const realFetch = window.fetch.bind(window);
  window.staleLoginAnswers = 0;
  window.fetch = (input, init) => {
    const method = (init && init.method) || "GET";
    if (window.staleLoginAnswers > 0 && method === "GET" && String(input).endsWith("/api/login")) {
      window.staleLoginAnswers -= 1;
      const body = JSON.stringify({state: "none", login_url: null, account: null});
      return Promise.resolve(new Response(body, {headers: {"Content-Type": "application/json"}}));
    }
    return realFetch(input, init);
  };
})();
"""


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    return poll(predicate, timeout, what, interval=0.1)


def admin_get(gateway: Gateway, path: str) -> dict:
    """GET an admin API path with the admin key and return its JSON."""
    req = urllib.request.Request(gateway.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def instance_started(gateway: Gateway) -> bool:
    """True once the simulator instance is up (logged out, so /ready stays 503)."""
    try:
        return any(i.get("state") == "ready" for i in admin_get(gateway, "/admin/api/health")["instances"])
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="module")
def chromium_tools():
    """The paths of chromium and chromedriver (skip without them; fail on CI)."""
    return require_tool("chromium", "chromium"), require_tool("chromedriver", "chromium-driver")


@pytest.fixture(scope="module")
def admin_gateway(tmp_path_factory, chromium_tools):
    """A gateway with an admin key whose simulated Lingma starts logged out."""
    gw = Gateway(tmp_path_factory.mktemp("admin-gw") / "work", LINGMA_ADMIN_KEY=ADMIN_KEY,
                 LINGMA_SIM_LOGGED_IN="0").start_process()
    try:
        wait_for(lambda: instance_started(gw), 60, "the simulator instance to start")
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory, chromium_tools, admin_gateway):
    """Headless Chromium driven through Debian's chromedriver, with a throwaway profile.

    Started after the gateway, so it quits first: its kept-alive connections would otherwise
    hold the gateway's stop for gunicorn's 5 s keepalive.
    """
    chromium, chromedriver = chromium_tools
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=chromedriver))
    driver.set_window_size(*DESKTOP)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STALE_LOGIN_ANSWERS})
    yield driver
    driver.quit()


def resize(driver, size: tuple[int, int]) -> None:
    """Give the page the viewport width of `size` (and wait until it has it)."""
    driver.set_window_size(*size)
    wait_for(lambda: driver.execute_script("return window.innerWidth") == size[0], what="the resize")


def screenshot(driver, name: str, size: tuple[int, int]) -> Path:
    """Save a full-page PNG of the current page at `size` (width, initial height)."""
    resize(driver, size)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size[0], "height": content["height"], "scale": 1}})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    driver.set_window_size(*DESKTOP)
    return path


def text_of(driver, element_id: str) -> str:
    """Return the visible text of the element with `element_id` ('' if absent)."""
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found and found[0].is_displayed() else ""


def open_page(driver, gateway: Gateway) -> None:
    """Open /admin/, signing in with the admin key if the form shows."""
    driver.get(gateway.url + "/admin/")
    if driver.find_elements(By.ID, "signin-form"):
        sign_in(driver, ADMIN_KEY)
    wait_for(lambda: driver.find_elements(By.ID, "instances"), what="the status page")


def sign_in(driver, key: str) -> None:
    """Type `key` into the sign-in form and submit it."""
    field = driver.find_element(By.ID, "admin-key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "signin-button").click()


def login_link(driver, previous: str = "") -> str:
    """Wait for the page to show a login link other than `previous` and return it."""
    return wait_for(lambda: (lambda t: t if t.startswith("https://") and t != previous else "")(
        text_of(driver, "login-link")), what="the login link")


def callback_of(link: str, http_port: int) -> str:
    """Check the simulator's login link and return the callback address the browser would get."""
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).hostname == "devops.aliyun.com"
    assert query["redirect_uri"] == [f"http://127.0.0.1:{http_port}/auth/callback"]
    return query["redirect_uri"][0] + "?" + urlencode({"state": query["state"][0], "code": "test"})


def wait_logged_in(driver) -> None:
    """Wait until the login status turns green with the simulator's account."""
    wait_for(lambda: text_of(driver, "login-status") == f"Logged in as {SIM_ACCOUNT}", 20,
             "the page to say Logged in")
    status = driver.find_element(By.ID, "login-status")
    assert "ok" in status.get_attribute("class").split()
    assert status.value_of_css_property("background-color") == "rgba(227, 245, 232, 1)"


def only_instance(gateway: Gateway) -> dict:
    """The admin API's record of the one simulator instance."""
    instances = admin_get(gateway, "/admin/api/instances")["instances"]
    assert len(instances) == 1
    return instances[0]


def test_a_wrong_key_is_refused(browser, admin_gateway):
    browser.delete_all_cookies()
    browser.get(admin_gateway.url + "/admin/")
    assert browser.find_element(By.ID, "signin-form").is_displayed()
    screenshot(browser, "signin-desktop", DESKTOP)
    sign_in(browser, "not-the-admin-key")
    wait_for(lambda: text_of(browser, "signin-error") == "Wrong admin key.", what="the refusal")
    assert not browser.find_elements(By.ID, "instances")
    screenshot(browser, "signin-refused-phone", PHONE)


def test_sign_in_shows_the_simulator_instance(browser, admin_gateway):
    browser.delete_all_cookies()
    browser.get(admin_gateway.url + "/admin/")
    sign_in(browser, ADMIN_KEY)
    instance = only_instance(admin_gateway)
    row = f'#instances tbody tr[data-name="{instance["name"]}"][data-worker="{instance["worker"]}"]'
    # rows with data-name are drawn by the script from /admin/api/instances
    cells = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, row + " td"), what="the instance row")
    by_label = {c.get_attribute("data-label"): c.text for c in cells}
    assert by_label["Name"] == instance["name"] and by_label["Worker"] == str(instance["worker"])
    assert by_label["PID"] == str(instance["pid"]) and by_label["Logged in"] == "no"
    assert by_label["Ports (socket / http)"] == f'{instance["socket_port"]} / {instance["http_port"]}'
    # running but logged out: not the green "ready"
    badge = browser.find_element(By.CSS_SELECTOR, row + " .state")
    assert badge.text == "ready, not logged in"
    assert badge.value_of_css_property("color") == "rgba(122, 77, 0, 1)"  # --warn, not --ok
    assert browser.find_element(By.CSS_SELECTOR, row + " button.restart").is_displayed()
    assert text_of(browser, "login-status") == "Not logged in"
    assert browser.find_element(By.ID, "login-start").text == "Log in to Lingma"
    screenshot(browser, "not-logged-in-phone", PHONE)
    screenshot(browser, "not-logged-in-desktop", DESKTOP)


def test_login_completes_when_the_callback_opens_in_this_browser(browser, admin_gateway):
    open_page(browser, admin_gateway)
    http_port = only_instance(admin_gateway)["http_port"]
    browser.find_element(By.ID, "login-start").click()
    link = login_link(browser)
    callback = callback_of(link, http_port)
    assert f"ssh -L {http_port}:127.0.0.1:{http_port}" in text_of(browser, "ssh-hint")
    qr = browser.find_element(By.ID, "login-qr")
    wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", qr),
             what="the QR code image")
    check_pending_actions(browser, link)
    screenshot(browser, "login-pending-desktop", DESKTOP)
    screenshot(browser, "login-pending-phone", PHONE)
    admin_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(callback)
    assert "Login complete" in browser.page_source
    browser.close()
    browser.switch_to.window(admin_tab)
    wait_logged_in(browser)
    assert text_of(browser, "login-pending") == ""


def check_pending_actions(driver, link: str) -> None:
    """While a login is pending: opening its link is the primary action, a new login the
    secondary; the QR code (for a phone) shows on a desktop, not on a phone."""
    opener, again = driver.find_element(By.ID, "login-open"), driver.find_element(By.ID, "login-start")
    assert opener.is_displayed() and opener.text == "Open the login link"
    assert opener.get_attribute("href") == link and opener.get_attribute("target") == "_blank"
    assert again.text == "Start a new login" and "secondary" in again.get_attribute("class").split()
    assert opener.location["y"] == again.location["y"] and opener.location["x"] < again.location["x"]
    assert opener.value_of_css_property("background-color") == "rgba(11, 98, 196, 1)"  # --accent
    assert again.value_of_css_property("background-color") == "rgba(255, 255, 255, 1)"
    qr, prompt = driver.find_element(By.ID, "login-qr"), driver.find_element(By.CSS_SELECTOR, "span.qr-prompt")
    assert qr.is_displayed() and prompt.is_displayed()
    resize(driver, PHONE)
    assert not qr.is_displayed() and not prompt.is_displayed()
    assert driver.find_element(By.ID, "login-open").is_displayed()
    resize(driver, DESKTOP)


def test_login_completes_with_the_pasted_callback_address(browser, admin_gateway):
    open_page(browser, admin_gateway)
    http_port = only_instance(admin_gateway)["http_port"]
    wait_for(lambda: browser.find_element(By.ID, "lingma-logout").is_displayed(), what="Log out")
    browser.find_element(By.ID, "lingma-logout").click()
    wait_for(lambda: text_of(browser, "login-status") == "Not logged in", what="the logout")
    browser.find_element(By.ID, "login-start").click()
    callback = callback_of(login_link(browser), http_port)
    paste = browser.find_element(By.ID, "callback-url")
    paste.send_keys("http://127.0.0.1:1/auth/callback?state=nope&code=test")
    browser.find_element(By.ID, "callback-send").click()
    refusal = wait_for(lambda: text_of(browser, "callback-error"), what="the API's refusal")
    assert text_of(browser, "login-status") == "Waiting for the Aliyun login…"
    paste.clear()
    paste.send_keys(callback)
    # the first answers after the paste come from a worker that has not caught up: the page
    # must keep polling through them
    browser.execute_script("window.staleLoginAnswers = 2")
    browser.find_element(By.ID, "callback-send").click()
    wait_logged_in(browser)
    assert browser.execute_script("return window.staleLoginAnswers") == 0
    assert refusal and not text_of(browser, "callback-error")
    screenshot(browser, "logged-in-desktop", DESKTOP)
    screenshot(browser, "logged-in-phone", PHONE)


def chat(gateway: Gateway, model: str | None) -> tuple[int, dict]:
    """POST one chat; return its status and JSON."""
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}],
                       **({"model": model} if model else {})})
    req = urllib.request.Request(gateway.url + "/v1/chat/completions", data=body.encode(),
                                 headers={"Authorization": f"Bearer {API_KEY}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_requests_are_listed_as_text_with_their_error_code(browser, admin_gateway):
    assert chat(admin_gateway, None)[0] == 200
    status, refused = chat(admin_gateway, HOSTILE_MODEL)
    assert status in (404, 503)  # unknown model; 503 if Lingma is logged out
    open_page(browser, admin_gateway)
    row = wait_for(lambda: [r for r in browser.find_elements(By.CSS_SELECTOR, "#requests tbody tr")
                            if HOSTILE_MODEL in r.text], what="the request row")[0]
    assert not browser.find_elements(By.ID, "xss")
    by_label = {c.get_attribute("data-label"): c for c in row.find_elements(By.TAG_NAME, "td")}
    assert by_label["Error"].text == refused["error"]["code"] and by_label["Status"].text == str(status)
    assert "failed" in row.get_attribute("class").split()
    # on a desktop both tables fit their cards: nothing to scroll sideways
    assert browser.execute_script(
        "return [...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth)")
    screenshot(browser, "requests-desktop", DESKTOP)
    resize(browser, PHONE)
    # on a phone each request is a card: no header row, nothing wider than the screen
    assert not browser.find_element(By.CSS_SELECTOR, "#requests thead").is_displayed()
    assert row.value_of_css_property("display") == "grid"
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    assert by_label["Error"].is_displayed() and by_label["Id"].size["width"] > PHONE[0] / 2
    screenshot(browser, "requests-phone", PHONE)
