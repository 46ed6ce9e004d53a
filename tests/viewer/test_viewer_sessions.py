"""Sessions and users in the viewer (headless Chromium): the list, a conversation as chat
bubbles with each run's steps one click away, and the users page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.builders import AgentRun, Llm, Tool, send_runs, unique
from tests.support import wait_derived
from tests.viewer.browser import save_screenshot
from tests.viewer.conftest import ViewerSite

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect


@dataclass
class Chat:
    agent: str
    session_id: str
    user_id: str
    runs: list[AgentRun]


@pytest.fixture(scope="module")
def chat(viewer_site: ViewerSite) -> Chat:
    """Three turns of one conversation (the second failed) and a turn of another."""
    agent, user_id = unique("chat-agent"), unique("user")
    session_id = unique("conv/42 · café")
    now = time.time_ns()
    turns = [
        AgentRun(agent, now - 600 * 10**9, 2000, tools=[Tool("get_weather", 10, 300)],
                 llms=[Llm("gpt-4o-mini", 400, 900, 120, 18)], session_id=session_id,
                 user_id=user_id, input="What's the weather in Paris?",
                 output="It is sunny in Paris, 21 °C."),
        AgentRun(agent, now - 500 * 10**9, 1500, error=("ValueError", "unknown unit 'kelvins'"),
                 session_id=session_id, user_id=user_id, input="And in kelvins?", output=None),
        AgentRun(agent, now - 400 * 10**9, 1000, session_id=session_id, user_id=user_id,
                 input="Thanks!", output="You're welcome."),
        AgentRun(agent, now - 300 * 10**9, 800, session_id=unique("other"), user_id=user_id,
                 input="Hello again", output="Hi!"),
    ]  # fmt: skip
    send_runs(viewer_site.url, turns)
    wait_derived(viewer_site.database_url)
    return Chat(agent, session_id, user_id, turns)


def open_view(page: Any, site: ViewerSite, route: str) -> None:
    page.goto(f"{site.url}/#{route}")


def test_the_sessions_page_lists_the_agents_sessions(
    page: Any, viewer_site: ViewerSite, chat: Chat
) -> None:
    open_view(page, viewer_site, f"/sessions?agent={quote(chat.agent)}")
    rows = page.locator("table.sessions-table tbody tr")
    expect(rows).to_have_count(2)
    expected = [s["id"] for s in viewer_site.api("/v1/sessions", agent=chat.agent)["items"]]
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.session)") == expected
    row = page.locator("tr", has_text="What's the weather in Paris?")
    expect(row).to_have_attribute("data-session", chat.session_id)
    expect(row.locator('td[data-label="Runs"]')).to_have_text("3")
    expect(row.locator('td[data-label="Failed"]')).to_have_text("1")
    expect(page.get_by_role("link", name="Sessions", exact=True).first).to_have_attribute(
        "aria-current", "page"
    )
    save_screenshot(page, "sessions")


def test_a_conversation_reads_as_chat_bubbles(
    page: Any, viewer_site: ViewerSite, chat: Chat
) -> None:
    open_view(page, viewer_site, f"/sessions?agent={quote(chat.agent)}")
    page.locator("tr", has_text="What's the weather in Paris?").get_by_role("link").first.click()
    expect(page.locator("h1")).to_contain_text("Session")
    turns = page.locator("ol.conversation > li.turn")
    expect(turns).to_have_count(3)
    assert turns.evaluate_all("items => items.map(item => item.dataset.run)") == [
        run.id for run in chat.runs[:3]
    ]
    users = page.locator(".bubble-user .bubble-text")
    expect(users).to_have_text(["What's the weather in Paris?", "And in kelvins?", "Thanks!"])
    first, failed, last = (turns.nth(i) for i in range(3))
    expect(first.locator(".bubble-agent .bubble-text")).to_have_text("It is sunny in Paris, 21 °C.")
    expect(failed.locator(".bubble-error .bubble-text")).to_have_text(
        "ValueError: unknown unit 'kelvins'"
    )
    expect(failed.locator(".badge")).to_have_text("Failed")
    expect(last.locator(".bubble-agent .bubble-text")).to_have_text("You're welcome.")
    save_screenshot(page, "session-conversation")
    # each run's steps: one click away, on the run's own page
    first.locator("a.turn-steps").click()
    expect(page).to_have_url(f"{viewer_site.url}/#/runs/{chat.runs[0].id}")
    expect(page.get_by_text("get_weather").first).to_be_visible()


def test_a_runs_session_links_to_its_conversation(
    page: Any, viewer_site: ViewerSite, chat: Chat
) -> None:
    open_view(page, viewer_site, f"/runs/{chat.runs[2].id}")
    page.get_by_role("link", name=chat.session_id).click()
    expect(page.locator("ol.conversation > li.turn")).to_have_count(3)


@pytest.mark.console_errors("404")
def test_an_unknown_session_says_so(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/sessions/" + quote("no such session", safe=""))
    expect(page.get_by_text("No session “no such session”.")).to_be_visible()


def test_the_users_page_counts_runs_and_sessions(
    page: Any, viewer_site: ViewerSite, chat: Chat
) -> None:
    open_view(page, viewer_site, f"/users?agent={quote(chat.agent)}")
    row = page.locator(f'tr[data-user="{chat.user_id}"]')
    expect(row.locator('td[data-label="Runs"]')).to_have_text("4")
    expect(row.locator('td[data-label="Sessions"]')).to_have_text("2")
    expect(row.locator('td[data-label="Failed"]')).to_have_text("1")
    expect(page.get_by_role("link", name="Users", exact=True).first).to_have_attribute(
        "aria-current", "page"
    )
    save_screenshot(page, "users")
    row.locator('td[data-label="Sessions"] a').click()
    expect(page.locator("table.sessions-table tbody tr")).to_have_count(2)
