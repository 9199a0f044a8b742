"""The web page of `memorag serve` in headless chromium: a real server process on 127.0.0.1 with the embedded models,
driven through the page as a user would (key, store, upload, paste, jobs, documents, streamed ask, citations).

Needs Debian's chromium at /usr/bin/chromium (CI installs it in .ci/run; skipped without it) and the playwright
package (the dev extra); nothing downloads a browser. Screenshot: $MEMORAG_TEST_ARTIFACTS/browser.png when that is
set, else in the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import Server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
API_KEY = "browser-test-key"
JOB_TIMEOUT_MS = 90_000
ASK_TIMEOUT_MS = 90_000
FACT = "Mirela Vasquez"
LIGHTHOUSE = (
    "Port Evander is a fishing town on a cold northern coast.\n"
    "Its lighthouse has stood on the breakwater since 1871.\n"
    f"The keeper of the Port Evander lighthouse is {FACT}, who paints the lamp room teal every spring.\n"
    "Ferries to the islands leave from the east quay twice a day.\n"
)
ORCHARD = (
    "The Halden orchard grows forty kinds of apple.\n"
    "Its cider press was built by a carpenter from Lund and still turns by hand every October.\n"
)
ORCHARD_SOURCE = "orchard <b>notes</b>.txt"  # shown as text, never as HTML; deleted through its URL-encoded name
QUESTION = "Who is the keeper of the Port Evander lighthouse?"

# Records, on every change of the answer, its text length and the page's streaming state (performance.now()).
WATCH_ANSWER = """() => {
  const answer = document.getElementById("answer");
  window.__answerLog = [];
  new MutationObserver(() => window.__answerLog.push(
    {t: performance.now(), chars: answer.textContent.length, state: answer.dataset.state}
  )).observe(answer, {childList: true, subtree: true, characterData: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`memorag serve` with an API key on a free port of 127.0.0.1 (serve_helpers.Server); yields its base URL."""
    running = Server(tmp_path_factory.mktemp("serve") / "stores", key=API_KEY).start()
    try:
        yield running.url
    finally:
        running.stop()
        print(f"memorag serve log (last 2000 characters):\n{running.log.read_text()[-2000:]}")  # pytest -s/-rA


def artifact_dir(tmp_path: Path) -> Path:
    chosen = os.environ.get("MEMORAG_TEST_ARTIFACTS")
    directory = Path(chosen) if chosen else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def streamed_before_done(log: list[dict[str, Any]]) -> bool:
    """True when the answer held text while the page still streamed, and was done only afterwards."""
    streaming = [i for i, entry in enumerate(log) if entry["state"] == "streaming" and entry["chars"] > 0]
    done = [i for i, entry in enumerate(log) if entry["state"] == "done"]
    return bool(streaming and done) and streaming[0] < done[0]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: apt-get install chromium")
def test_page_memorizes_asks_streams_and_opens_citations(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    requested: list[str] = []
    page_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before a delete
            page.goto(f"{server}/")

            # without the key the server refuses, and the page says so in the server's own words
            expect(page.locator("#notice")).to_contain_text("API key", timeout=10_000)
            page.fill("#api-key", API_KEY)
            page.click("#save-key")
            expect(page.locator("#notice")).to_have_text("", timeout=10_000)

            page.fill("#new-store", "notes")
            page.click("#create-store")
            expect(page.locator("#store-select")).to_have_value("notes", timeout=10_000)

            # a file through the multipart upload, a text through the paste box: two jobs, both done
            page.set_input_files("#upload", files=[
                {"name": "lighthouse.txt", "mimeType": "text/plain", "buffer": LIGHTHOUSE.encode()}])
            page.click("#upload-button")
            expect(page.locator("#job-status li")).to_have_count(1, timeout=10_000)
            expect(page.locator("#job-status li").first).to_have_attribute("data-state", "done", timeout=JOB_TIMEOUT_MS)
            page.fill("#paste-source", ORCHARD_SOURCE)
            page.fill("#paste-text", ORCHARD)
            page.click("#paste-button")
            expect(page.locator("#job-status li")).to_have_count(2, timeout=10_000)
            expect(page.locator("#job-status li").first).to_have_attribute("data-state", "done", timeout=JOB_TIMEOUT_MS)
            docs = page.locator("#doc-list li")
            expect(docs).to_have_count(2, timeout=10_000)
            expect(page.locator("#doc-list")).to_contain_text("lighthouse.txt")
            expect(page.locator("#doc-list")).to_contain_text(ORCHARD_SOURCE)
            expect(page.locator("#doc-list b")).to_have_count(0)
            expect(page.locator("#store-select option[value=notes]")).to_contain_text("2 documents")
            # a file memorag cannot read: its job fails, and the page shows the server's message
            page.set_input_files("#upload", files=[
                {"name": "image.bin", "mimeType": "application/octet-stream", "buffer": b"\x00\x01\x02\xff"}])
            page.click("#upload-button")
            expect(page.locator("#job-status li")).to_have_count(3, timeout=10_000)
            failed = page.locator("#job-status li").first
            expect(failed).to_have_attribute("data-state", "failed", timeout=JOB_TIMEOUT_MS)
            expect(failed).to_contain_text("binary")
            expect(docs).to_have_count(2)

            # ask: tokens show while the page is still streaming, then the whole answer and its evidence
            page.evaluate(WATCH_ANSWER)
            page.fill("#question", QUESTION)
            page.select_option("#mode", "memorag")
            page.fill("#max-new-tokens", "24")
            page.click("#ask")
            expect(page.locator("#answer")).to_have_attribute("data-state", "done", timeout=ASK_TIMEOUT_MS)
            log = page.evaluate("window.__answerLog")
            assert streamed_before_done(log), f"no token text appeared before the done state: {json.dumps(log)}"
            streamed = {entry["chars"] for entry in log if entry["state"] == "streaming"}
            print(f"answer lengths seen while streaming: {sorted(streamed)}")
            assert page.locator("#answer").inner_text().strip(), "the final answer is empty"
            passages = page.locator("#evidence details[data-passage]")
            assert passages.count() >= 1
            expect(page.locator("#evidence")).to_contain_text(FACT)
            expect(page.locator("#evidence")).to_contain_text("lighthouse.txt")
            links = page.locator("#sources a[data-passage-link]")
            expect(links).to_have_count(passages.count())  # one link per passage, whether or not it is cited

            # a citation (or, when the tiny generator wrote none, the link of the passage with the fact) opens it
            citations = page.locator("#answer a[data-citation]")
            if citations.count():
                target = citations.first.get_attribute("data-citation")
                citations.first.click()
            else:
                fact_passage = page.locator("#evidence details[data-passage]", has_text=FACT).first
                target = fact_passage.get_attribute("data-passage")
                page.locator(f"#sources a[data-passage-link='{target}']").click()
            opened = page.locator(f"#passage-{target}")
            expect(opened).to_have_attribute("open", "")
            expect(opened).to_have_class("highlight")
            expect(opened).to_be_in_viewport()

            shot = artifact_dir(tmp_path) / "browser.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.exists() and shot.stat().st_size > 0

            # delete a document: it leaves the list, the other stays
            page.get_by_role("button", name=f"Delete {ORCHARD_SOURCE}", exact=True).click()
            expect(docs).to_have_count(1, timeout=30_000)
            expect(page.locator("#doc-list")).to_contain_text("lighthouse.txt")
        finally:
            browser.close()
    assert not page_errors, page_errors
    assert all(url.startswith(server) for url in requested), [u for u in requested if not u.startswith(server)]
    print(f"browser test took {time.monotonic() - started:.1f} s")
