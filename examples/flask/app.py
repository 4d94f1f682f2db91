"""A small Flask app to try pystrument on (docs/first-app.md): run it under ``pystrument-run``, no code changes."""

from __future__ import annotations

import hashlib

from flask import Flask, jsonify

app = Flask(__name__)
BOOKS = {i: {"id": i, "title": f"Book {i}"} for i in range(1, 51)}


@app.get("/books")
def list_books():
    return jsonify(sorted(BOOKS.values(), key=lambda b: b["title"]))


@app.get("/books/<int:book_id>")
def get_book(book_id: int):
    book = BOOKS.get(book_id)
    if book is None:
        return jsonify(error=f"no book {book_id}"), 404
    # a little work worth profiling
    digest = book["title"].encode()
    for _ in range(2000):
        digest = hashlib.sha256(digest).digest()
    return jsonify({**book, "checksum": digest.hex()[:16]})
