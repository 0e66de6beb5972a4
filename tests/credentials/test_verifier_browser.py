"""The verifier's story in Debian's chromium: a visitor checks a credential pasted, tampered,
uploaded and as garbage; after an operator revokes it, the public page and the verifier say
revoked and the holder's wallet shows the reason."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from credentials import services
from tests.factories import PASSWORD, CourseFactory, OperatorFactory, UserFactory
from tests.programmes.conftest import passed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def check(page: Page, base: str, **fields: str) -> None:
    page.goto(f"{base}/verify/")
    for name, value in fields.items():
        page.fill(f"#id_{name}", value)
    page.click("#verify-form button[type=submit]")


def test_a_visitor_verifies_a_credential_every_way(live_server, page: Page, artifacts, settings):
    settings.SITE_URL = live_server.url
    student = UserFactory(
        username="ana", first_name="Ana", last_name="Jović", email="ana@example.org"
    )
    course = CourseFactory(code="GPU101", title="GPU computing fundamentals", eqf_level=6)
    credential, _ = services.issue_for_run(
        actor=None, user=student, run=passed(student, course, 86)
    )
    base = live_server.url

    # The visitor downloads the JSON from the public page the holder shared.
    page.goto(services.credential_url(credential))
    with page.expect_download() as info:
        page.click("#downloads >> text=Credential (JSON)")
    saved = artifacts / "credential-verifier.json"
    info.value.save_as(saved)
    text = saved.read_text()

    # Pasted, with the holder's e-mail: verified, what it says, the e-mail matches.
    check(page, base, document=text, email="Ana@Example.org")
    expect(page.locator("#verdict")).to_contain_text("Verified")
    expect(page.locator("#says")).to_contain_text("GPU computing fundamentals")
    expect(page.locator("#says")).to_contain_text("Ana Jović")
    expect(page.locator("#checks")).not_to_contain_text("Failed")
    expect(page.locator("#email-check")).to_contain_text("matches")
    page.screenshot(path=str(artifacts / "credentials-verify-verified.png"), full_page=True)

    # A copy with another name: tampered with.
    tampered = json.loads(text)
    tampered["credentialSubject"]["achievement"]["name"] = "Doctor of Everything"
    check(page, base, document=json.dumps(tampered, indent=2))
    expect(page.locator("#verdict")).to_contain_text("Tampered with")
    expect(page.locator("#checks")).to_contain_text("Failed")
    expect(page.locator("#says")).to_contain_text("What the document claims")
    page.screenshot(path=str(artifacts / "credentials-verify-tampered.png"), full_page=True)

    # The file itself, uploaded: verified.
    page.goto(f"{base}/verify/")
    page.set_input_files("#id_upload", str(saved))
    page.click("#verify-form button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("Verified")

    # Garbage: a clear message, the form kept for another try.
    check(page, base, document="this is not a credential {")
    expect(page.locator("#problem")).to_contain_text("This is not JSON")
    expect(page.locator("#verdict")).to_have_count(0)
    expect(page.locator("#id_document")).to_have_value("this is not a credential {")
    page.screenshot(path=str(artifacts / "credentials-verify-garbage.png"), full_page=True)

    # A link to another site: refused, nothing fetched.
    check(page, base, link="https://evil.example/credentials/x/")
    expect(page.locator("#problem")).to_contain_text("Only Academy's own credential links")

    # The operator revokes it: the public page and the verifier say so; the holder sees why.
    services.revoke(actor=OperatorFactory(), credential=credential, reason="Plagiarised lab 3")
    page.goto(services.credential_url(credential))
    expect(page.locator("#verdict")).to_contain_text("Revoked")
    expect(page.locator("#verdict")).to_contain_text("Revoked on")
    expect(page.locator("body")).not_to_contain_text("Plagiarised lab 3")
    page.screenshot(path=str(artifacts / "credentials-public-revoked.png"), full_page=True)

    check(page, base, link=services.credential_url(credential))
    expect(page.locator("#verdict")).to_contain_text("Revoked")
    expect(page.locator("#checks")).to_contain_text("set in the status list")
    page.screenshot(path=str(artifacts / "credentials-verify-revoked.png"), full_page=True)

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{base}/credentials/")
    item = page.locator(f"#credential-{credential.uuid}")
    expect(item.locator(".badge")).to_contain_text("Revoked")
    expect(item).to_contain_text("Plagiarised lab 3")
    page.screenshot(path=str(artifacts / "credentials-wallet-revoked.png"), full_page=True)

    # The verifier in Serbian (Latin).
    page.select_option("#lang-select", "sr-latn")
    page.click(".langswitch button")
    check(page, base, document=text)
    expect(page.locator("html")).to_have_attribute("lang", "sr-latn")
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "revoked")
    page.screenshot(path=str(artifacts / "credentials-verify-revoked-sr-latn.png"), full_page=True)
