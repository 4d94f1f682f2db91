"""Each endpoint 40 times: enough requests per version for the gate's Mann-Whitney test to see a 30% change."""

REQUESTS = 40


def test_orders(client):
    for _ in range(REQUESTS):
        assert client.get("/orders").status_code == 200


def test_items(client):
    for i in range(REQUESTS):
        assert client.get(f"/items/{i}").json["id"] == i


def test_search(client):
    for _ in range(REQUESTS):
        assert len(client.get("/search").json) == 10
