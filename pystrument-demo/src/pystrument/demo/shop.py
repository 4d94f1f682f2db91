"""The demo's sample application: a small shop with realistic endpoints and planted slow paths.

Version ``1.0`` and ``1.1`` differ in one place: ``GET /search`` in 1.1 tests each product against a
*list* of featured ids instead of a set (a quadratic regression the version comparison and the
analysers should find). The other planted
problems are there in both versions: an N+1 query loop in ``GET /products/{product_id}`` (a ``def`` route,
run in the thread pool), a deep copy and repeated JSON encoding of a large cart in ``POST /checkout``,
and a blocking ``time.sleep`` inside ``async def`` in ``GET /reports/daily``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import sqlite3
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PRODUCTS = 300
FEATURED = tuple(range(5000, 9000))  # promoted product ids (none of them in this small catalogue)
REVIEWS_PER_PRODUCT = 12


class Catalog:
    """An in-memory SQLite catalogue shared by the routes (guarded: routes run on several threads)."""

    def __init__(self, seed: int = 42) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        rng = random.Random(seed)
        words = ["red", "blue", "green", "steel", "oak", "linen", "wool", "glass", "round", "large", "small", "lamp",
                 "chair", "table", "mug", "scarf", "desk", "shelf", "rug", "vase"]
        with self.lock:
            self.db.executescript(
                "create table products (id integer primary key, name text, price real, description text);"
                "create table reviews (id integer primary key, product_id integer, stars integer, body text);"
            )
            for pid in range(1, PRODUCTS + 1):
                name = " ".join(rng.choice(words) for _ in range(3))
                desc = " ".join(rng.choice(words) for _ in range(40))
                self.db.execute("insert into products values (?, ?, ?, ?)", (pid, name, round(rng.uniform(5, 500), 2), desc))
                for _ in range(REVIEWS_PER_PRODUCT):
                    self.db.execute("insert into reviews (product_id, stars, body) values (?, ?, ?)",
                                    (pid, rng.randint(1, 5), " ".join(rng.choice(words) for _ in range(30))))

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()


class PaymentGatewayError(RuntimeError):
    pass


def review_ids(catalog: Catalog, product_id: int) -> list[int]:
    return [row[0] for row in catalog.query("select id from reviews where product_id = ?", (product_id,))]


def load_review(catalog: Catalog, review_id: int) -> dict[str, Any]:
    (row,) = catalog.query("select id, stars, body from reviews where id = ?", (review_id,))
    return {"id": row[0], "stars": row[1], "body": row[2]}


def matching_products(catalog: Catalog, term: str, version: str) -> list[dict[str, Any]]:
    rows = catalog.query("select id, name, price, description from products")
    pattern = re.compile(rf"(?i)\b({re.escape(term)})\w*(\s+\w+){{0,3}}", re.UNICODE)
    found = []
    if version >= "1.1":
        featured = list(FEATURED)  # the regression: a list, so every membership test below scans it
        for row in rows:
            if pattern.search(row[1]) or pattern.search(row[3]):
                found.append({"id": row[0], "name": row[1], "price": row[2], "featured": row[0] in featured})
            elif row[0] in featured:
                found.append({"id": row[0], "name": row[1], "price": row[2], "featured": True})
    else:
        featured_set = set(FEATURED)
        for row in rows:
            if pattern.search(row[1]) or pattern.search(row[3]):
                found.append({"id": row[0], "name": row[1], "price": row[2], "featured": row[0] in featured_set})
    return found


def price_cart(cart: dict[str, Any]) -> float:
    snapshot = copy.deepcopy(cart)  # planted: deep copies of a large cart
    for _ in range(3):
        json.dumps(snapshot)  # planted: the same large object encoded again and again
    total: float = sum(item["price"] * item["quantity"] for item in snapshot["items"])
    return round(total, 2)


def build_daily_report(catalog: Catalog) -> dict[str, int]:
    rows = catalog.query("select stars, count(*) from reviews group by stars")
    return {str(stars): count for stars, count in rows}


def create_shop(version: str = "1.0", catalog: Catalog | None = None) -> Starlette:
    catalog = catalog or Catalog()

    async def list_products(request: Request) -> Response:
        limit = int(request.query_params.get("limit", 50))
        rows = catalog.query("select id, name, price from products order by id limit ?", (limit,))
        return JSONResponse([{"id": r[0], "name": r[1], "price": r[2]} for r in rows])

    def product_detail(request: Request) -> Response:
        product_id = int(request.path_params["product_id"])
        rows = catalog.query("select id, name, price, description from products where id = ?", (product_id,))
        if not rows:
            return JSONResponse({"error": "no such product"}, status_code=404)
        reviews = [load_review(catalog, rid) for rid in review_ids(catalog, product_id)]  # planted N+1
        row = rows[0]
        return JSONResponse({"id": row[0], "name": row[1], "price": row[2], "description": row[3], "reviews": reviews})

    async def search(request: Request) -> Response:
        term = request.query_params.get("q", "oak")
        return JSONResponse({"query": term, "results": matching_products(catalog, term, version)})

    async def checkout(request: Request) -> Response:
        body = await request.json()
        items = [{"product_id": pid, "price": 10.0 + pid % 90, "quantity": 1 + pid % 3,
                  "options": {"gift": pid % 2 == 0, "notes": ["n"] * 20}} for pid in body.get("products", [])]
        total = price_cart({"customer": body.get("customer", "guest"), "items": items * 20})
        return JSONResponse({"total": total, "items": len(items)}, status_code=201)

    async def daily_report(request: Request) -> Response:
        time.sleep(0.02)  # planted: blocking the event loop inside async def
        await asyncio.sleep(0.005)
        return JSONResponse(build_daily_report(catalog))

    async def fail(request: Request) -> Response:
        raise PaymentGatewayError("payment gateway timed out")

    async def gateway_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=502)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": version})

    return Starlette(routes=[
        Route("/products", list_products),
        Route("/products/{product_id:int}", product_detail),
        Route("/search", search),
        Route("/checkout", checkout, methods=["POST"]),
        Route("/reports/daily", daily_report),
        Route("/payments/retry", fail, methods=["POST"]),
        Route("/health", health),
    ], exception_handlers={PaymentGatewayError: gateway_error})
