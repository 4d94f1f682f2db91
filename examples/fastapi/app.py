"""A small FastAPI app to try pystrument on (docs/first-app.md): run it under ``pystrument-run``, no code changes."""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import FastAPI, HTTPException

app = FastAPI()
ITEMS = {i: {"id": i, "name": f"Item {i}"} for i in range(1, 51)}


@app.get("/items")
async def list_items() -> list[dict[str, object]]:
    await asyncio.sleep(0.002)  # stands for a database call
    return sorted(ITEMS.values(), key=lambda item: str(item["name"]))


@app.get("/items/{item_id}")
def get_item(item_id: int) -> dict[str, object]:
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    digest = str(item["name"]).encode()
    for _ in range(2000):  # a little work worth profiling
        digest = hashlib.sha256(digest).digest()
    return {**item, "checksum": digest.hex()[:16]}
