"""The sample shop: three endpoints of different cost, instrumented with pystrument's Flask adapter (it uses
the process-wide configuration, which the pytest plugin sets up)."""

from flask import Flask, jsonify
from pystrument.adapters.flask import PerformanceMiddleware

from .pricing import price_order


def _digits(n: int) -> int:
    return sum(int(c) for c in str(n * 7919) * 200)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/orders")
    def orders():
        return jsonify([price_order(i) for i in range(1, 4)])

    @app.get("/items/<int:item_id>")
    def item(item_id: int):
        return jsonify({"id": item_id, "check": _digits(item_id)})

    @app.get("/search")
    def search():
        words = sorted(f"item-{i * 31 % 997}" for i in range(3000))
        return jsonify(words[:10])

    app.wsgi_app = PerformanceMiddleware(app.wsgi_app)
    return app
