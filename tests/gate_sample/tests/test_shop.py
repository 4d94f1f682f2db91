"""The shop's tests. ``test_traffic`` gives the gate its samples: 40 rounds over every endpoint, interleaved, so
that each endpoint's requests are spread over the whole loop (a burst of load on a shared CI machine then touches a
few requests of each endpoint, not all the requests of one: docs/ci-gate.md, "Enough requests")."""

ROUNDS = 40
PATHS = ("/orders", "/items/7", "/search")


def test_orders_are_priced(client):
    assert len(client.get("/orders").json) == 3


def test_item(client):
    assert client.get("/items/7").json["id"] == 7


def test_search(client):
    assert len(client.get("/search").json) == 10


def test_traffic(client):
    for _ in range(ROUNDS):
        for path in PATHS:
            assert client.get(path).status_code == 200
