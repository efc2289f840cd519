"""Support services: listed by operators with `federation support ...`, shown on the
portal by the page's language (and, in the page, the country the person picks); the
member platforms page; names with markup or right-to-left overrides shown as text."""
from __future__ import annotations

import pytest

from tests.factories import add_partner


def add(cli, name, display, languages, *options):
    result = cli("support", "add", name, "--display-name", display, "--languages", languages, *options)
    assert result.exit_code == 0, result.output
    return result


def test_operator_lists_and_removes_support_services(cli, client):
    add(cli, "rdl", "Revenge Porn Helpline", "en", "--countries", "GB", "--phone", "+44 345 6000 459",
        "--web", "https://revengepornhelpline.org.uk", "--hours", "Mon-Fri 10:00-16:00")
    add(cli, "ayuda", "Línea de ayuda", "es,pt-br")
    listed = cli("support", "list").output.splitlines()
    assert listed == ["ayuda\tLínea de ayuda\tes,pt-br\t*\t-\t-\t-",
                      "rdl\tRevenge Porn Helpline\ten\tGB\t+44 345 6000 459\thttps://revengepornhelpline.org.uk"
                      "\tMon-Fri 10:00-16:00"]

    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Revenge Porn Helpline" in english and "Línea de ayuda" not in english
    assert 'href="tel:+443456000459"' in english and "Mon-Fri 10:00-16:00" in english
    assert '<option value="GB">United Kingdom</option>' in english  # the country filter, in words
    spanish = client.get("/es/status").get_data(as_text=True)
    assert "Línea de ayuda" in spanish and "Revenge Porn Helpline" not in spanish
    # Portuguese: the service speaks pt-br; the report page (shown after sending) has it too.
    assert "Línea de ayuda" in client.get("/pt-br/report").get_data(as_text=True)

    assert cli("support", "remove", "ayuda").exit_code == 0
    assert "Línea de ayuda" not in client.get("/es/status").get_data(as_text=True)
    assert "Aún no tenemos ningún servicio de apoyo en tu idioma" in client.get("/es/").get_data(as_text=True)


@pytest.mark.parametrize("options, message", [
    (("--languages", "spanish!"), "not a language code"),
    (("--languages", "es", "--countries", "Sweden"), "not a two-letter country code"),
    (("--languages", "es", "--web", "http://example.org"), "starts with https://"),
    (("--languages", "es", "--web", "javascript:alert(1)"), "starts with https://"),
    (("--languages", "es", "--phone", "call me"), "a phone number is digits"),
    (("--languages", ""), "at least one language"),
])
def test_bad_support_service_is_refused_with_a_clear_message(cli, options, message):
    result = cli("support", "add", "x1", "--display-name", "X", *options)
    assert result.exit_code == 1 and message in result.output
    assert cli("support", "list").output == ""


def test_names_are_unique_and_removing_an_unknown_one_says_so(cli):
    add(cli, "rdl", "One", "en")
    again = cli("support", "add", "rdl", "--display-name", "Two", "--languages", "en")
    assert again.exit_code == 1 and "exists" in again.output
    missing = cli("support", "remove", "nobody")
    assert missing.exit_code == 1 and "no support service named 'nobody'" in missing.output


def test_display_names_with_markup_or_bidi_overrides_are_shown_as_text(cli, client, app):
    # U+202E (right-to-left override) would show "exe.gpj" as "jpg.exe"; markup must stay text.
    add(cli, "evil", "<img src=x onerror=alert(1)>Help\u202egpj.exe", "en", "--hours", "<b>24/7</b>")
    add_partner(app, display_name="<script>alert(1)</script>Video\u202eKlaw")
    for path in ("/", "/platforms"):
        html = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert "<img src=x" not in html and "<script>alert" not in html and "<b>24/7" not in html
        assert "\u202e" not in html
    assert "<bdi>&lt;img src=x onerror=alert(1)&gt;Helpgpj.exe</bdi>" in client.get("/").get_data(as_text=True)
    platforms = client.get("/platforms").get_data(as_text=True)
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt;VideoKlaw</bdi>" in platforms


def test_member_platforms_page_names_active_platforms_only(client, app):
    assert "No platform has joined yet." in client.get("/platforms").get_data(as_text=True)
    add_partner(app, name="acme", display_name="Acme Video")
    add_partner(app, name="zed", display_name="Zed Photos")
    html = client.get("/platforms").get_data(as_text=True)
    assert html.index("Acme Video") < html.index("Zed Photos")
    from sqlalchemy.orm import Session

    from federation import partner_registry
    from federation.models import MemberStatus

    with Session(app.extensions["federation.db"].engine) as session:
        partner_registry.set_status(session, "zed", MemberStatus.SUSPENDED)
    assert "Zed Photos" not in client.get("/platforms").get_data(as_text=True)
    assert "Acme Video" in client.get("/sv/platforms").get_data(as_text=True)
