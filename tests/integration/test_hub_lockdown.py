"""Attack tests: only Academy starts, stops and changes lab servers on the real JupyterHub.

A student signs in to the hub the way the hub permits (its OAuth2 login through Academy, running
here as the live server on the address the test hub's OAuth URLs name), takes a hub API token of
their own, and tries to start a server with more GPUs and wall time than any profile gives, to use
the options form, to stop or change the server Academy started for them.  Every attempt must be
refused by the hub (403), and the Academy service token must hold only the scopes Academy calls.

Needs the stack of `ops/cluster/up.sh` with OAuth login (`make test` / ops/test-services.sh) and
ACADEMY_HUB_OAUTH_* in the environment.  Fails, never skips, when the stack is missing."""

from __future__ import annotations

import contextlib
import re
import subprocess
import uuid

import pytest
import requests
from django.conf import settings

from notebooks.sessions import clients
from tests.browser.support import hub_oauth_client
from tests.factories import PASSWORD, UserFactory

GREEDY = {"partition": "gpu", "gpus": 4, "runtime": "08:00:00"}


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout


@pytest.fixture
def hub_oauth(live_server):  # type: ignore[no-untyped-def]
    hub_oauth_client()  # fails when the hub stack's settings are missing
    clients.hub().info()  # HubUnavailable fails the test when the hub is down
    return live_server


def hub_login(live_server, username: str) -> requests.Session:  # type: ignore[no-untyped-def]
    """Sign in to Academy, then to the hub through its OAuth2 login; returns the browser-like
    session (hub cookies included).  Raises AssertionError with the hub's answer on refusal."""
    s = requests.Session()
    page = s.get(f"{live_server.url}/accounts/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    r = s.post(
        f"{live_server.url}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf.group(1)},
        headers={"Referer": f"{live_server.url}/accounts/login/"},
        timeout=30,
    )
    assert r.status_code == 200 and "sessionid" in s.cookies, r.status_code
    r = s.get(f"{settings.HUB_URL}/hub/oauth_login?next=%2Fhub%2Fhome", timeout=60)
    s.hub_login_status = r.status_code  # type: ignore[attr-defined]
    return s


def hub_session_token(s: requests.Session, username: str) -> str:
    """A hub API token of the student's own, asked for with their hub login."""
    s.get(f"{settings.HUB_URL}/hub/token", timeout=30)  # sets the _xsrf cookie
    xsrf = s.cookies.get("_xsrf", path="/hub/") or s.cookies.get("_xsrf")
    r = s.post(
        f"{settings.HUB_URL}/hub/api/users/{username}/tokens",
        json={"note": "mine", "expires_in": 600},
        headers={"X-XSRFToken": xsrf or ""},
        timeout=30,
    )
    assert r.status_code in (200, 201), (r.status_code, r.text[:300])
    return r.json()["token"]


def _cleanup(username: str) -> None:
    hub = clients.hub()
    user = hub.get_user(username) or {}
    for server in user.get("servers") or {}:
        with contextlib.suppress(Exception):
            hub.stop_server(username, server, wait=20)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_students_own_hub_login_and_token_cannot_start_stop_or_change_servers(hub_oauth):
    student = UserFactory(username=f"lk{uuid.uuid4().hex[:8]}")
    hub = clients.hub()
    base = settings.HUB_URL
    name = student.username
    # Academy creates the hub user when it starts the student's first session.
    hub.ensure_user(name)
    try:
        browser = hub_login(hub_oauth, name)
        assert browser.hub_login_status == 200, browser.hub_login_status  # type: ignore[attr-defined]
        token = hub_session_token(browser, name)
        api = requests.Session()
        api.headers["Authorization"] = f"token {token}"

        # REST spawn of a named server, and of the default server, with a greedy GPU ask
        r = api.post(
            f"{base}/hub/api/users/{name}/servers/mine", json={"user_options": GREEDY}, timeout=40
        )
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = api.post(f"{base}/hub/api/users/{name}/server", json=GREEDY, timeout=40)
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = api.put(
            f"{base}/hub/api/users/{name}/servers/made", json={"user_options": GREEDY}, timeout=40
        )
        assert r.status_code == 403, (r.status_code, r.text[:300])

        # the spawn page with its options form, from the browser login (cookie + xsrf)
        r = browser.get(f"{base}/hub/spawn/{name}/formlab", timeout=40, allow_redirects=False)
        assert r.status_code == 403, (r.status_code, r.text[:300])
        assert 'name="gpus"' not in r.text
        xsrf = browser.cookies.get("_xsrf", path="/hub/") or browser.cookies.get("_xsrf") or ""
        r = browser.post(
            f"{base}/hub/spawn/{name}/formlab",
            data={"partition": "gpu", "gpus": "4", "runtime": "08:00:00", "_xsrf": xsrf},
            timeout=40,
            allow_redirects=False,
        )
        assert r.status_code == 403, (r.status_code, r.text[:300])

        # the server Academy started for them: they may use it, not stop or change it
        state = hub.start_server(
            name, "lab-1", {"partition": "cpu", "gpus": 0, "runtime": "00:10:00"}
        )
        state = hub.wait_ready(name, "lab-1", timeout=120)
        assert state.ready, state
        r = api.delete(f"{base}/hub/api/users/{name}/servers/lab-1", timeout=40)
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = api.patch(
            f"{base}/hub/api/users/{name}/servers/lab-1",
            json={"user_options": GREEDY},
            timeout=40,
        )
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = api.get(f"{base}/user/{name}/lab-1/api/status", timeout=40, allow_redirects=False)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert hub.server_state(name, "lab-1").ready

        # nothing reached Slurm but Academy's own job
        jobs = [j for j in sh("squeue", "-h", "-u", name, "-o", "%i").split() if j]
        assert jobs == [state.job_id], jobs
    finally:
        _cleanup(name)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_hub_login_is_refused_to_a_person_academy_never_sent_to_the_hub(hub_oauth):
    stranger = UserFactory(username=f"lk{uuid.uuid4().hex[:8]}")
    browser = hub_login(hub_oauth, stranger.username)
    assert browser.hub_login_status == 403, browser.hub_login_status  # type: ignore[attr-defined]
    assert clients.hub().get_user(stranger.username) is None


@pytest.mark.integration
def test_the_academy_service_token_holds_only_the_scopes_academy_calls():
    if not settings.HUB_API_TOKEN:
        pytest.fail("ACADEMY_HUB_API_TOKEN is not set: the hub stack is not up")
    r = requests.get(
        f"{settings.HUB_URL}/hub/api/user",
        headers={"Authorization": f"token {settings.HUB_API_TOKEN}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:300]
    scopes = set(r.json()["scopes"])
    for needless in ("tokens", "admin:groups", "groups", "read:hub", "admin:servers", "shutdown"):
        assert needless not in scopes, sorted(scopes)
    # It cannot mint a token for a hub user (it could act as that person everywhere).
    hub = clients.hub()
    name = f"lk{uuid.uuid4().hex[:8]}"
    hub.ensure_user(name)
    r = requests.post(
        f"{settings.HUB_URL}/hub/api/users/{name}/tokens",
        json={"note": "minted"},
        headers={"Authorization": f"token {settings.HUB_API_TOKEN}"},
        timeout=30,
    )
    assert r.status_code == 403, (r.status_code, r.text[:300])
