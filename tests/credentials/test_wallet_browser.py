"""The holder's story in Debian's chromium: a student who passed a run claims the certificate in
the wallet, copies the share link, opens the public page (verified) and downloads the JSON."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from credentials import services
from credentials.models import Credential
from tests.browser.support import login
from tests.factories import CourseFactory, UserFactory
from tests.programmes.conftest import passed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


WIDER_THAN_MAIN = (
    "(() => { const m = document.querySelector('main'); return m.scrollWidth > m.clientWidth; })()"
)


def test_a_student_claims_shares_and_downloads_their_certificate(
    live_server, page: Page, artifacts, settings
):
    settings.SITE_URL = live_server.url  # the share link opens on the test server
    student = UserFactory(username="ana", first_name="Ana", last_name="Jović")
    course = CourseFactory(code="GPU101", title="GPU computing fundamentals", eqf_level=6)
    passed(student, course, 86)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    login(page, live_server.url, "ana")
    page.click("nav >> text=My credentials")
    expect(page.locator("#due")).to_contain_text("GPU computing fundamentals")
    expect(page.locator("#credentials")).to_have_count(0)
    page.screenshot(path=str(artifacts / "credentials-wallet-due.png"), full_page=True)

    page.click("#due button:has-text('Claim certificate')")
    expect(page.locator(".messages")).to_contain_text("is issued")
    credential = Credential.objects.get(user=student)
    item = page.locator(f"#credential-{credential.uuid}")
    expect(item).to_contain_text("GPU computing fundamentals")
    expect(item.locator(".badge")).to_have_text("✓ Valid")
    expect(page.locator("#due")).to_have_count(0)
    linkedin = item.locator("a.linkedin")
    expect(linkedin).to_have_attribute("target", "_blank")
    expect(linkedin).to_have_attribute(
        "href",
        re.compile(r"^https://www\.linkedin\.com/profile/add\?startTask=CERTIFICATION_NAME&"),
    )
    page.screenshot(path=str(artifacts / "credentials-wallet.png"), full_page=True)

    # The share link goes to the clipboard.
    url = services.credential_url(credential)
    expect(item.locator("input.share-url")).to_have_value(url)
    item.locator("button.copy").click()
    expect(item.locator(".copied")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url

    # The public page, as anyone the link is shared with sees it: verified.
    page.goto(url)
    expect(page.locator("#verdict")).to_contain_text("Verified")
    expect(page.locator("#credential")).to_contain_text("Ana Jović")
    expect(page.locator("#checks tbody tr")).to_have_count(6)
    page.screenshot(path=str(artifacts / "credentials-public.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#downloads >> text=Credential (JSON)")
    saved = artifacts / "credential.json"
    info.value.save_as(saved)
    assert json.loads(saved.read_text()) == credential.document

    # In Serbian (the language switch in the top bar).
    page.select_option("#lang-select", "sr")
    page.click(".langswitch button")
    expect(page.locator("html")).to_have_attribute("lang", "sr")
    page.screenshot(path=str(artifacts / "credentials-public-sr.png"), full_page=True)
    page.goto(f"{live_server.url}/credentials/")
    expect(item).to_be_visible()
    page.screenshot(path=str(artifacts / "credentials-wallet-sr.png"), full_page=True)

    # On a phone: the page's content is no wider than the screen (the site's top bar is not
    # this page's to fix).
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.screenshot(path=str(artifacts / "credentials-wallet-phone.png"), full_page=True)
    assert page.evaluate(WIDER_THAN_MAIN) is False
    page.goto(url)
    page.screenshot(path=str(artifacts / "credentials-public-phone.png"), full_page=True)
    assert page.evaluate(WIDER_THAN_MAIN) is False
