def test_health_is_ok_when_the_database_answers(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_is_503_when_the_database_cannot_be_reached(make_client, tmp_path):
    unreachable = tmp_path / "no-such-dir" / "app.db"
    client = make_client(database_url=f"sqlite:///{unreachable}", migrate_on_startup=False)

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
