def test_landing_answers(client, db):
    assert client.get("/partners").status_code == 200


def test_partner_portal_needs_sign_in(client, db):
    response = client.get("/partner/portal")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/partners")


def test_signed_in_partner_sees_portal(partner_client, partner):
    response = partner_client.get("/partner/portal")
    assert response.status_code == 200
    assert "Pat" in response.get_data(as_text=True)
    assert partner.email == "pat@example.com"  # still attached after the request
