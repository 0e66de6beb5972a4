"""A crawl of every page each demo role reaches from its navigation, in a real browser, in English
and in Serbian Cyrillic.  It fails on what a newcomer trips over and the flow tests never look at:
a 500 or an unexpected 4xx, a console error or CSP violation, a failed script, style, image or
font, a request to another origin (a centre may run without outbound internet), and Python reprs
or template debris in the visible text."""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urldefrag, urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve
from playwright.sync_api import Browser, BrowserContext, Error, Page

from academy.celery import app
from academy.demo import DEMO_PASSWORD, seed_people
from academy.models import AuditEvent

# Demo accounts (academy/demo.py) by role; None is the anonymous visitor.
ROLES = {
    "anonymous": None,
    "student": "student",
    "instructor": "instructor",
    "institution-admin": "uniadmin",
    "operator": "operator",
}
MAX_DEPTH = 3
MAX_PAGES = 100  # per role: the crawl stays well under its time budget
PER_ROUTE = 2  # pages of one URL pattern (same route, same query keys): more add nothing new

# Never followed: they end the session, switch the language, belong to the hub's OAuth flow or
# are static files (sub-resources are checked as the pages load them).  Every action of Academy
# is a POST (the crawl only follows links); the audit log proves that the crawl changed nothing.
SKIP_PREFIXES = ("/accounts/logout/", "/admin/logout/", "/i18n/", "/o/", "/oauth/", "/static/")

# The one exception, on one page: ReDoc's sidebar shows the Redocly logo from Redocly's CDN (an
# address inside its bundle).  The CSP blocks it before any request leaves the browser, and ReDoc
# hides the image when it fails.
KNOWN = [("/api/v1/redoc/", "https://cdn.redoc.ly/redoc/logo-mini.svg")]

# What must never be visible: Python reprs and unrendered template syntax.
DEBRIS = re.compile(r"\{'|<bound method|object at 0x|<QuerySet|\{\{|\{%|%\}|\}\}")

# The Serbian pass runs at a phone's width (Serbian words are the longer ones).
PHONE = {"width": 390, "height": 844}
# What sticks out of the screen, by its widest element outside a box that scrolls sideways.
WIDEST = """() => {
  const screen = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= screen) return "";
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") return true;
    }
    return false;
  };
  let worst = null, right = screen;
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right > right + 1 && !scrolls(el)) { worst = el; right = r.right; }
  }
  if (!worst) return `${document.documentElement.scrollWidth} px`;
  const classes = typeof worst.className === "string" ? worst.className.trim().split(/\\s+/) : [];
  const name = worst.tagName.toLowerCase() + (worst.id ? "#" + worst.id : "")
    + classes.filter(Boolean).map((c) => "." + c).join("");
  return `${Math.round(right)} px, by ${name}`;
}"""

# Chromium reports CSP violations on the console too; the event adds what was blocked and by
# which directive, and also catches violations the console would word differently.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')
    + ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""

# The visible text without code that authors and students wrote (lesson code blocks, notebook
# cells), where braces are legitimate; options of select boxes count as visible.
VISIBLE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, textarea, script, style, template').forEach(n => n.remove());
  const options = [...document.querySelectorAll('option')].map(o => o.textContent + ' ' + o.value);
  return body.innerText + '\\n' + options.join('\\n');
}"""


@pytest.fixture
def demo(transactional_db, settings, tmp_path):  # type: ignore[no-untyped-def]
    """The demo data of `manage.py seed_demo`, so the crawl sees realistic pages."""
    from courses import demo as courses_demo
    from notebooks import demo as notebooks_demo
    from programmes import demo as programmes_demo

    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT = tmp_path / "media"
    # Enrolment e-mails go to the test outbox instead of a queue no worker reads.
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        users = seed_people()
        courses_demo.seed(users)
        notebooks_demo.seed(users)
        programmes_demo.seed(users)
    finally:
        app.conf.task_always_eager = eager
    return users


@dataclass
class Crawl:
    base: str
    problems: dict[str, list[str]] = field(default_factory=dict)  # problem -> pages
    visited: list[str] = field(default_factory=list)
    current: str = ""
    pending: set[object] = field(default_factory=set)  # fetch/XHR requests in flight

    def problem(self, text: str) -> None:
        page = self.current.removeprefix(self.base) or "(start)"
        if any(page == where and what in text for where, what in KNOWN):
            return
        # One entry for one kind of problem, whatever its page, line or hash.
        text = re.sub(r"'sha256-[^']*'", "'sha256-…'", text.replace(self.base, ""))
        text = re.sub(r":\d+\b", ":N", text)
        pages = self.problems.setdefault(text, [])
        if page not in pages:
            pages.append(page)

    def report(self) -> str:
        return "\n".join(
            f"- {text}\n    on {len(pages)} page(s): {' '.join(pages[:4])}"
            for text, pages in self.problems.items()
        )

    def watch(self, page: Page) -> None:
        origin = self.base

        def on_console(msg) -> None:  # type: ignore[no-untyped-def]
            if msg.type == "error":
                where = msg.location.get("url", "")
                self.problem(f"console error: {msg.text} ({where})")

        def on_request(request) -> None:  # type: ignore[no-untyped-def]
            if request.resource_type in ("fetch", "xhr"):
                self.pending.add(request)
            url = request.url
            if not url.startswith(("data:", "blob:")) and not _same_origin(url, origin):
                self.problem(f"request to another origin: {url}")

        def on_response(response) -> None:  # type: ignore[no-untyped-def]
            if response.request.resource_type != "document" and response.status >= 400:
                self.problem(f"sub-resource {response.status}: {response.url}")

        def on_failed(request) -> None:  # type: ignore[no-untyped-def]
            # A navigation that turns into a download is reported as aborted; it is checked
            # on its own in `visit`.
            # The browser fetches the favicon on its own ("other") after the load event; the
            # crawl's next navigation cancels it (ERR_ABORTED), which is no failure of ours. The
            # favicon itself is checked as one of the anonymous visitor's start pages.
            if request.resource_type == "other" and request.failure == "net::ERR_ABORTED":
                return
            if request.resource_type != "document":
                self.problem(f"failed {request.resource_type}: {request.url} {request.failure}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.problem(f"page error: {exc}"))
        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        page.on("requestfinished", lambda request: self.pending.discard(request))
        page.on("requestfailed", lambda request: self.pending.discard(request))


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _route_key(url: str) -> str:
    """Pages of one URL pattern with the same query keys are alike; a few of them suffice."""
    parts = urlsplit(url)
    try:
        route = resolve(parts.path).route
    except Resolver404:
        route = parts.path
    keys = ",".join(sorted({k for k, _ in parse_qsl(parts.query)} - {"page"}))
    return f"{route}?{keys}"


def _followable(url: str, base: str) -> bool:
    if not _same_origin(url, base):
        return False
    parts = urlsplit(url)
    if parts.path.startswith(SKIP_PREFIXES):
        return False
    if parts.path.startswith("/admin/"):
        # Django's own admin: its index and each model's list, not every filter and record.
        depth = len([s for s in parts.path.split("/") if s])
        return depth <= 3 and not parts.query
    return True


def _visit(page: Page, crawl: Crawl, url: str, *, phone: bool = False) -> list[str]:
    """Load one page, check it, and return its links.  On a phone's width the page must not
    be wider than the screen: wide tables scroll inside their own box."""
    crawl.current = url
    try:
        response = page.goto(url, wait_until="load")
    except Error as exc:
        if "Download is starting" not in str(exc):
            crawl.problem(f"navigation failed: {exc.message.splitlines()[0]}")
            return []
        # A download (CSV export, notebook, the API schema): its status, not a rendering.
        head = page.context.request.get(url, max_redirects=0)
        if head.status >= 400:
            crawl.problem(f"download {head.status}")
        return []
    if response is None:
        crawl.problem("no response")
        return []
    if response.status >= 400:
        crawl.problem(f"status {response.status}")
    if not (response.headers.get("content-type") or "").startswith("text/html"):
        return []  # JSON or a schema shown by the browser: no page to check
    # What the page fetches as it starts (htmx fragments, the API schema of the docs) belongs
    # to it: wait for that before reading it or leaving.  The docs fetch after the load event.
    if urlsplit(url).path.startswith("/api/"):
        page.wait_for_load_state("networkidle")
    deadline = time.monotonic() + 10
    while crawl.pending and time.monotonic() < deadline:
        page.wait_for_timeout(25)
    if crawl.pending:
        crawl.problem(f"still loading after 10 s: {[r.url for r in crawl.pending]}")  # type: ignore[attr-defined]
    text = page.evaluate(VISIBLE_TEXT)
    for match in {m.group(0) for m in DEBRIS.finditer(text)}:
        i = text.find(match)
        crawl.problem(f"debris {match!r} in text: …{text[max(0, i - 60) : i + 60]!r}…")
    if phone:
        width = page.evaluate(WIDEST)
        if width:
            crawl.problem(f"wider than a {PHONE['width']} px phone: {width}")
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    return [urldefrag(urljoin(page.url, href))[0] for href in links]


def _crawl(page: Page, crawl: Crawl, start: list[str]) -> None:
    """Breadth first from the role's start pages, to MAX_DEPTH links away."""
    queue = deque((url, 0) for url in start)
    seen = set(start)
    per_route: dict[str, int] = {}
    while queue and len(crawl.visited) < MAX_PAGES:
        url, depth = queue.popleft()
        key = _route_key(url)
        if per_route.get(key, 0) >= PER_ROUTE:
            continue
        per_route[key] = per_route.get(key, 0) + 1
        crawl.visited.append(url)
        for link in _visit(page, crawl, url):
            if depth < MAX_DEPTH and link not in seen and _followable(link, crawl.base):
                seen.add(link)
                queue.append((link, depth + 1))


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/")


def _new_context(browser: Browser, base: str) -> BrowserContext:
    context = browser.new_context(base_url=base, accept_downloads=True)
    context.add_init_script(CSP_LISTENER)
    return context


@pytest.mark.browser
@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_of_each_role_is_clean(
    browser: Browser, live_server, demo, artifacts, role: str
) -> None:
    base = live_server.url
    context = _new_context(browser, base)
    page = context.new_page()
    crawl = Crawl(base=base)
    crawl.watch(page)
    started = time.monotonic()
    username = ROLES[role]
    if username:
        _login(page, base, username)
        start = [f"{base}/"]
        if role == "operator":  # the README names both API docs pages; the nav links one
            start.append(f"{base}/api/v1/redoc/")
    else:
        start = [f"{base}/", f"{base}/accounts/login/", f"{base}/accounts/password_reset/"]
        start.append(f"{base}/favicon.ico")  # what browsers ask for on pages that name no icon
    audit_rows = AuditEvent.objects.count()
    _crawl(page, crawl, start)
    english = list(crawl.visited)
    page.screenshot(path=str(artifacts / f"crawl-{role}-en-last.png"), full_page=True)

    # The same pages in Serbian Cyrillic on a phone's screen, the language chosen as the switch
    # does (its cookie); Django's admin translates itself, so its lists are not visited twice.
    context.add_cookies([{"name": "django_language", "value": "sr", "url": base}])
    page.set_viewport_size(PHONE)
    serbian = [
        u for u in english if not urlsplit(u).path.startswith("/admin/") or u.endswith("/admin/")
    ]
    for url in serbian:
        _visit(page, crawl, url, phone=True)
    page.goto(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "sr"
    page.screenshot(path=str(artifacts / f"crawl-{role}-sr-home.png"), full_page=True)
    context.close()

    assert AuditEvent.objects.count() == audit_rows, "a link changed something"
    elapsed = time.monotonic() - started
    print("\n".join(english))
    print(
        f"crawl {role}: {len(english)} pages in English, {len(serbian)} in Serbian, {elapsed:.1f} s"
    )
    assert len(english) >= (3 if username is None else 8), english
    assert not crawl.problems, f"{len(crawl.problems)} problems:\n{crawl.report()}"


@pytest.mark.browser
def test_api_docs_render_from_our_origin(browser: Browser, live_server, demo, artifacts) -> None:
    """The docs pages show the schema with everything loaded from Academy itself."""
    base = live_server.url
    context = _new_context(browser, base)
    page = context.new_page()
    crawl = Crawl(base=base)
    crawl.watch(page)
    _login(page, base, "operator")
    crawl.current = f"{base}/api/v1/docs/"
    page.goto(crawl.current)
    page.locator(".opblock-summary-path", has_text="/api/v1/runs/").first.wait_for()
    page.screenshot(path=str(artifacts / "api-docs.png"))
    crawl.current = f"{base}/api/v1/redoc/"
    page.goto(crawl.current)
    page.locator("h1", has_text="Academy API").wait_for()
    page.locator("h2", has_text="runs_list").first.wait_for(state="attached")
    page.screenshot(path=str(artifacts / "api-redoc.png"))
    context.close()
    assert not crawl.problems, f"{len(crawl.problems)} problems:\n{crawl.report()}"


@pytest.mark.browser
def test_catalogue_filters_by_language(browser: Browser, live_server, demo, artifacts) -> None:
    """The language filter offers languages by name and filters by their code."""
    base = live_server.url
    context = _new_context(browser, base)
    page = context.new_page()
    _login(page, base, "student")
    page.goto(f"{base}/courses/")
    select = page.locator("form.filters select[name=language]")
    options = select.locator("option").evaluate_all("os => os.map(o => [o.value, o.text])")
    assert options == [["", "All languages"], ["en", "English"], ["sr", "Serbian"]], options
    select.select_option(label="Serbian")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url("**/courses/?*language=sr*")
    titles = page.locator("#courses h2").all_inner_texts()
    assert titles == ["Forecasting for energy grids"], titles
    page.screenshot(path=str(artifacts / "catalogue-language-sr.png"), full_page=True)

    context.add_cookies([{"name": "django_language", "value": "sr", "url": base}])
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/courses/")
    labels = select.locator("option").all_inner_texts()
    assert labels[1:] == ["енглески", "српски"], labels
    context.close()
