"""The page at `/` in a real Chromium: a diagnosis watched to its end over every path the client
can take (live, resumed, polling, back to live, fallback from a silent socket), and its errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from diagops.push.protocol import CLOSE_GOING_AWAY, STAGES
from tests.browser.conftest import SHOTS
from tests.browser.threaded import ThreadedService
from tests.gateproxy import Fault, Faults, GateProxy
from tests.servicekit import token
from tests.waiting import wait_for

SILENCE_S = 2.0  # the page's dead-socket deadline with the module's heartbeat (1 s + 1 s)
STATE_JS = """
const root = document.documentElement, page = window.diagPage || {}, client = page.client;
return {state: root.dataset.state, transport: root.dataset.transport, execution: root.dataset.execution || null,
        ready: root.dataset.ready === "true", seqs: client ? client.receivedSeqs : [],
        duplicates: client ? client.merger.duplicates : 0, reconnects: client ? client.reconnects : 0,
        transports: (page.transports || []).map(t => t.transport), times: (page.transports || []).map(t => t.at),
        runs: page.runs || 0};
"""


def page_state(browser: Any) -> dict[str, Any]:
    return browser.execute_script(STATE_JS)


def open_page(browser: Any, proxy: GateProxy, *, lang: str = "en", **params: str) -> None:
    query = {"token": token("alice", lang=lang), "brand": "Acme Tea", "platforms": "qwen,kimi", **params}
    browser.get(f"{proxy.url}/?{urlencode(query)}")
    wait_for(lambda: page_state(browser)["ready"], timeout=10, what="the page's script to load")


def start(browser: Any) -> None:
    browser.find_element("id", "start").click()
    wait_for(lambda: page_state(browser)["execution"], timeout=10, what="the diagnosis to start")


def until(browser: Any, what: str, condition: Any, timeout: float = 20.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        state = page_state(browser)
        return state if condition(state) else None
    return wait_for(check, timeout=timeout, what=what, interval=0.05)


def finished(browser: Any, timeout: float = 20.0) -> dict[str, Any]:
    return until(browser, "a final state", lambda s: s["state"] in ("complete", "error"), timeout)


def text(browser: Any, element_id: str) -> str:
    return browser.find_element("id", element_id).text


def assert_every_update_once(state: dict[str, Any]) -> None:
    assert state["seqs"] == list(range(1, len(state["seqs"]) + 1)), state["seqs"]


@pytest.fixture
def proxy(live: tuple[ThreadedService, GateProxy]) -> GateProxy:
    svc, proxy = live
    svc.parts.engine.spec.speed = 50.0
    svc.parts.engine.spec.failure_rate = 0.0
    proxy.faults = Faults()
    proxy.stats.clear()
    return proxy


@pytest.fixture
def svc(live: tuple[ThreadedService, GateProxy]) -> ThreadedService:
    return live[0]


def test_a_diagnosis_runs_live_to_its_report_and_the_page_shows_each_stage(browser, proxy, svc):
    open_page(browser, proxy)
    assert text(browser, "start") == "Start diagnosis"
    start(browser)
    state = finished(browser)
    assert state["state"] == "complete" and state["transport"] == "closed"
    assert state["transports"][:2] == ["connecting", "live"] and "polling" not in state["transports"]
    assert_every_update_once(state)
    reached = [li.get_attribute("data-stage") for li in browser.find_elements("css selector", "#stages li.reached")]
    assert reached == list(STAGES)
    assert browser.find_element("id", "progress").get_attribute("value") == "100"
    assert "Report: Acme Tea" in text(browser, "result")
    assert [row.get_attribute("data-platform") for row in browser.find_elements("css selector", "#result tbody tr")] \
        == ["qwen", "kimi"]
    assert text(browser, "score").isdigit() and "Acme Tea appears on" in text(browser, "summary")
    assert not browser.find_element("id", "error").is_displayed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "page-complete.png"))

    browser.find_element("id", "lang-zh").click()  # switch the language of the finished page
    assert text(browser, "start") == "开始诊断" and "诊断报告" in text(browser, "result")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_the_language_comes_from_the_token_and_status_texts_follow_it(browser, proxy):
    open_page(browser, proxy, lang="zh")
    assert browser.find_element("css selector", "html").get_attribute("lang") == "zh"
    start(browser)
    assert finished(browser)["state"] == "complete"
    assert "诊断报告" in text(browser, "result") and "在" in text(browser, "summary")


def test_an_injected_failure_shows_the_friendly_message_and_retry_starts_a_new_one(browser, proxy, svc):
    svc.parts.engine.spec.failure_rate = 1.0
    open_page(browser, proxy)
    start(browser)
    failed = finished(browser)
    assert failed["state"] == "error"
    assert text(browser, "error-message") == ("One of the AI platforms is not answering right now. "
                                               "Please try again in a few minutes.")
    retry = browser.find_element("id", "retry")
    assert retry.is_displayed() and retry.text == "Retry"
    assert not browser.find_element("id", "result").is_displayed()

    svc.parts.engine.spec.failure_rate = 0.0
    retry.click()
    done = until(browser, "the retried diagnosis to complete",
                 lambda s: s["runs"] == 2 and s["state"] == "complete" and s["execution"] != failed["execution"])
    assert_every_update_once(done)
    assert not browser.find_element("id", "error").is_displayed()


def test_a_token_the_service_refuses_is_one_error_without_retry(browser, proxy):
    open_page(browser, proxy, token="not-a-token")
    start_clicked = browser.find_element("id", "start")
    start_clicked.click()
    state = finished(browser, timeout=10)
    assert state["state"] == "error" and state["transports"] == [] and state["execution"] is None
    assert "token" in text(browser, "error-message").lower()
    assert not browser.find_element("id", "retry").is_displayed()


def test_the_service_closing_the_socket_mid_run_is_resumed_with_no_duplicate_and_no_gap(browser, proxy, svc):
    svc.parts.engine.spec.speed = 3.0  # about 7 s: time to cut it in the middle
    open_page(browser, proxy)
    start(browser)
    until(browser, "two live updates", lambda s: s["transport"] == "live" and len(s["seqs"]) >= 2)
    assert svc.close_sockets(CLOSE_GOING_AWAY, "going away") >= 1
    resumed = until(browser, "the page to resume live", lambda s: s["reconnects"] == 1 and s["transport"] == "live")
    assert resumed["transports"][-2:] == ["connecting", "live"]
    svc.parts.engine.spec.speed = 50.0
    done = finished(browser)
    assert done["state"] == "complete" and done["reconnects"] == 1
    assert_every_update_once(done)
    assert len(done["seqs"]) >= 5 and "polling" not in done["transports"]


def test_with_websocket_upgrades_refused_the_page_completes_over_polling(browser, proxy):
    proxy.faults = Faults(ws_refused=True)
    open_page(browser, proxy)
    start(browser)
    done = finished(browser)
    assert done["state"] == "complete"
    assert done["transports"][:2] == ["connecting", "polling"] and "live" not in done["transports"]
    assert_every_update_once(done)
    assert proxy.stats[Fault.WS_REFUSED] >= 1
    assert "Report: Acme Tea" in text(browser, "result")


def test_polling_hands_back_to_the_socket_once_upgrades_work_again(browser, proxy, svc):
    proxy.faults = Faults(ws_refused=True)
    svc.parts.engine.spec.speed = 2.0  # about 10 s
    open_page(browser, proxy)
    start(browser)
    until(browser, "updates over polling", lambda s: s["transport"] == "polling" and len(s["seqs"]) >= 2)
    proxy.faults = Faults()  # unblocked: the next background probe is answered
    back = until(browser, "the page to return to the socket", lambda s: s["transport"] == "live", timeout=15)
    polled = len(back["seqs"])
    svc.parts.engine.spec.speed = 50.0
    done = finished(browser)
    assert done["state"] == "complete"
    assert done["transports"][:3] == ["connecting", "polling", "live"]
    assert_every_update_once(done)
    assert len(done["seqs"]) > polled  # the socket delivered the rest


def test_a_socket_that_opens_but_stays_silent_falls_back_to_polling_within_the_deadline(browser, proxy):
    proxy.faults = Faults(ws_silent=True)
    open_page(browser, proxy)
    start(browser)
    polling = until(browser, "the fallback to polling", lambda s: "polling" in s["transports"], timeout=SILENCE_S + 5)
    waited_ms = polling["times"][polling["transports"].index("polling")] - polling["times"][0]
    assert SILENCE_S * 1000 * 0.9 <= waited_ms <= SILENCE_S * 1000 + 1500, waited_ms
    done = finished(browser)
    assert done["state"] == "complete" and "live" not in done["transports"]
    assert_every_update_once(done)
    assert proxy.stats[Fault.WS_SILENT] >= 1


WATCH_WITH_REFRESH_JS = """
const [first, next, refresh, done] = arguments;
import("/static/diag-client.js").then(({ DiagnosisClient }) => {
  const client = new DiagnosisClient({ baseUrl: location.origin, token: first,
                                       refreshToken: refresh ? async () => next : null });
  const seqs = [], errors = [];
  const report = () => done({ seqs, errors, refreshes: client.refreshes, reconnects: client.reconnects });
  client.on("update", (u) => seqs.push(u.seq));
  client.on("error", (e) => { errors.push(e.code); report(); });
  client.on("complete", report);
  client.start({ brand: "Acme Tea", platforms: ["qwen"], lang: "en" }).catch(() => {});
});
"""


@pytest.mark.parametrize("refresh", [True, False], ids=["with-refresh", "without"])
def test_a_watch_longer_than_its_token_lives_on_one_socket_when_the_client_can_refresh(browser, proxy, svc, refresh):
    svc.parts.engine.spec.speed = 5.0  # about 4 s, past the first token's 1-2 s
    open_page(browser, proxy)
    browser.set_script_timeout(30)
    outcome = browser.execute_async_script(WATCH_WITH_REFRESH_JS, token("alice", ttl_s=2), token("alice", ttl_s=600),
                                           refresh)
    if refresh:
        assert outcome["errors"] == [] and outcome["refreshes"] == 1 and outcome["reconnects"] == 0, outcome
        assert outcome["seqs"] == list(range(1, len(outcome["seqs"]) + 1)) and len(outcome["seqs"]) >= 5
    else:  # the control: the service closes the socket 4001 at the token's exp
        assert outcome["errors"] == ["unauthorized"], outcome
