"""Caseworker pages over HTTP: the session cookie, CSRF and cross-site refusal, the idle
timeout, revocation, the referral slip."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from federation.models import CaseworkerSession, Referral
from federation.portal.caseworker import COOKIE
from tests.factories import add_organisation, case_payload, reset_guess_counter, set_organisation_status

HOME = "/caseworker"


@pytest.fixture(autouse=True)
def _fresh_counts(app):
    reset_guess_counter(app)


@pytest.fixture
def org(app, client):
    token, workers = add_organisation(app, "haven", "Safe Haven Helpline", caseworkers=("sam", "kim"))
    return {"token": token, **workers}


def sign_in(client, token: str):
    return client.post("/caseworker/sign-in", data={"token": token})


def csrf(client) -> str:
    html = client.get(HOME).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def referrals_in(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Referral))


def test_sign_in_sets_a_strict_http_only_cookie_for_caseworker_pages_only(client, org):
    assert client.get(HOME).headers["Location"].endswith("/caseworker/sign-in")
    response = sign_in(client, org["sam"])
    assert response.status_code == 303 and response.headers["Location"].endswith(HOME)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/caseworker" in cookie
    assert "Secure" not in cookie  # plain http here; see the next test
    assert "Expires" not in cookie and "Max-Age" not in cookie  # ends with the browser, or idle
    # The cookie is a random id; the database holds its digest, not it.
    value = cookie.split(";")[0].split("=", 1)[1]
    page = client.get(HOME)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Names are isolated in <bdi> (a right-to-left name cannot reorder the sentence).
    assert "Signed in as <bdi>sam</bdi> at <bdi>Safe Haven Helpline</bdi>." in html
    assert org["sam"] not in html and value not in html
    assert "no-store" in page.headers["Cache-Control"] and "frame-ancestors 'none'" in \
        page.headers["Content-Security-Policy"]


def test_the_cookie_is_secure_over_https(app, org, clean_database):
    client = app.test_client()
    response = client.post("/caseworker/sign-in", data={"token": org["sam"]}, base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("which", ["token", "unknown", "empty"])
def test_only_a_caseworker_credential_signs_in(client, org, which):
    token = {"token": org["token"], "unknown": "fcw_nope", "empty": ""}[which]
    response = sign_in(client, token)
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    assert "This credential does not work" in response.get_data(as_text=True)


def test_making_a_referral_shows_the_slip_once(client, org, engine):
    sign_in(client, org["sam"])
    response = client.post("/caseworker/referrals", data={"csrf_token": csrf(client)})
    assert response.status_code == 201 and "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    code = re.search(r'id="slip-code">([^<]+)<', html).group(1)
    assert f'id="slip-link" dir="ltr">http://localhost/r/{code}<' in html
    assert "Your link from <bdi>Safe Haven Helpline</bdi>" in html and "print.js" in html
    assert code not in response.headers.get("Location", "")
    home = client.get(HOME).get_data(as_text=True)
    assert code not in home and 'data-state="open"' in home and "By: <bdi>sam</bdi>" in home
    with Session(engine) as session:
        assert session.scalar(select(Referral.caseworker_id)) is not None


def test_consented_cases_are_listed_with_their_outcome(client, org):
    sign_in(client, org["sam"])
    html = client.post("/caseworker/referrals", data={"csrf_token": csrf(client)}).get_data(as_text=True)
    code = re.search(r'id="slip-code">([^<]+)<', html).group(1)
    receipt = client.post("/v1/cases", json=case_payload(referral_code=code, share_with_referrer=True)).get_json()
    home = client.get(HOME).get_data(as_text=True)
    assert 'data-state="shared"' in home and "Active: <bdi>1</bdi> hash shared with platforms." in home
    assert "No platform has reported anything yet." in home
    assert receipt["reference"] not in home
    client.post("/v1/cases/stop-sharing", json={"reference": receipt["reference"], "pin": receipt["pin"]})
    home = client.get(HOME).get_data(as_text=True)
    assert 'data-state="used"' in home and "Active:" not in home


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_a_cross_site_form_post_is_refused(client, org, engine, headers):
    sign_in(client, org["sam"])
    token = csrf(client)  # even with the right CSRF token and the cookie
    response = client.post("/caseworker/referrals", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert referrals_in(engine) == 0
    # Sign-in from another site is refused too (no login CSRF), and sets no cookie.
    forced = client.post("/caseworker/sign-in", data={"token": org["kim"]}, headers=headers)
    assert forced.status_code == 403 and "Set-Cookie" not in forced.headers
    # The same post from our own page works.
    own = client.post("/caseworker/referrals", data={"csrf_token": token},
                      headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 201 and referrals_in(engine) == 1


@pytest.mark.parametrize("sent", [None, "", "wrong"])
def test_a_form_without_the_sessions_csrf_token_is_refused(client, org, engine, sent):
    sign_in(client, org["sam"])
    data = {} if sent is None else {"csrf_token": sent}
    assert client.post("/caseworker/referrals", data=data).status_code == 403
    assert client.post("/caseworker/sign-out", data=data).status_code == 403
    assert referrals_in(engine) == 0
    assert client.get(HOME).status_code == 200  # still signed in


def test_another_sessions_csrf_token_does_not_work(app, org, engine, clean_database):
    sam, kim = app.test_client(), app.test_client()
    sign_in(sam, org["sam"])
    sign_in(kim, org["kim"])
    assert sam.post("/caseworker/referrals", data={"csrf_token": csrf(kim)}).status_code == 403
    assert referrals_in(engine) == 0


def test_files_are_not_accepted(client, org):
    sign_in(client, org["sam"])
    response = client.post("/caseworker/referrals", data={"csrf_token": csrf(client), "f": (b"x", "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 415


def test_the_session_ends_after_15_idle_minutes(client, org, engine):
    sign_in(client, org["sam"])
    assert client.get(HOME).status_code == 200
    with Session(engine) as session:
        session.execute(update(CaseworkerSession).values(
            last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14)))
        session.commit()
    assert client.get(HOME).status_code == 200  # a request moves the idle clock on
    with Session(engine) as session:
        session.execute(update(CaseworkerSession).values(
            last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=15, seconds=1)))
        session.commit()
    response = client.get(HOME)
    assert response.status_code == 303 and response.headers["Location"].endswith("/caseworker/sign-in")
    assert f"{COOKIE}=;" in response.headers["Set-Cookie"]  # the stale cookie is cleared
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CaseworkerSession)) == 0


def test_revoking_or_suspending_signs_out_at_once(app, client, org, engine):
    from federation import organisations

    sign_in(client, org["sam"])
    set_organisation_status(app, "haven", "suspended")
    assert client.get(HOME).status_code == 303
    set_organisation_status(app, "haven", "active")
    sign_in(client, org["sam"])
    with Session(engine) as session:
        organisations.revoke_caseworker(session, "haven", "sam")
        session.commit()
    assert client.get(HOME).status_code == 303
    assert sign_in(client, org["sam"]).status_code == 401


def test_sign_out(client, org, engine):
    sign_in(client, org["sam"])
    response = client.post("/caseworker/sign-out", data={"csrf_token": csrf(client)})
    assert response.status_code == 303 and f"{COOKIE}=;" in response.headers["Set-Cookie"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CaseworkerSession)) == 0
    assert client.get(HOME).status_code == 303
