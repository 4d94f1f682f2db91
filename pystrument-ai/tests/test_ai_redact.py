"""Redaction: what must never reach an AI provider, and what must survive for the analysis to work."""

from __future__ import annotations

import pytest
from pystrument.ai.redact import redact, redact_mapping


@pytest.mark.parametrize("text,secret", [
    ("OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUvWx123", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx123"),
    ("client = OpenAI(api_key='sk-abcdefghijklmnopqrstuvwx')", "sk-abcdefghijklmnopqrstuvwx"),
    ("headers = {'Authorization': 'Bearer abc.def-ghi_jkl012345'}", "abc.def-ghi_jkl012345"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("DATABASE_URL=postgresql://app:s3cr3tPass@db:5432/app", "s3cr3tPass"),
    ("redis://:redisPassw0rd@cache:6379/0", "redisPassw0rd"),
    ("mongodb+srv://user:mongoPw99@cluster0.example.net/db", "mongoPw99"),
    ("key id AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    ('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.SflKxwRJSMeKKF2QT4fwpMeJf36P", "eyJhbGciOiJIUzI1NiJ9"),
    ('{"password": "hunter2", "user": "x"}', "hunter2"),
    ("https://api.example.com/v1/items?token=tok_9f8e7d6c&page=2", "tok_9f8e7d6c"),
    ("ghp_1234567890abcdefghijABCDEFGHIJklmnop", "ghp_1234567890abcdefghijABCDEFGHIJklmnop"),
    ("session 3f7a9c2e4b1d8f6a0e5c7b9d2a4f6e8c1b3d5f7a", "3f7a9c2e4b1d8f6a0e5c7b9d2a4f6e8c1b3d5f7a"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
    ("contact alice.smith+shop@mail.example.co.uk now", "alice.smith+shop@mail.example.co.uk"),
    ('cur.execute("SELECT * FROM users WHERE email = \'bob@x.io\' AND pin = 1234")', "1234"),
    ("UPDATE accounts SET balance = 1000.50 WHERE name = 'Carol Jones'", "Carol Jones"),
    ("INSERT INTO t (a, b) VALUES ('secret-value', 42)", "secret-value"),
    ("File \"/home/alice/work/shop/views.py\", line 3", "alice"),
    ("/Users/bob.m/dev/app.py", "bob.m"),
    (r"C:\Users\carol\proj\app.py", "carol"),
])
def test_secret_is_removed(text, secret):
    assert secret not in redact(text)


def test_what_the_analysis_needs_survives():
    text = ("- self 52.7 ms (57.0%): orders_page (~/app/views.py:10) > load_customer (/srv/app/db.py:5) > Connection.execute [built-in]\n"
            "row = conn.execute(\"select name from customers where id = ?\", (customer_id,)).fetchone()\n"
            "for word in BANNED: re.compile(rf\"\\b{word}\\b\")")
    out = redact(text)
    assert "orders_page" in out and "load_customer (/srv/app/db.py:5)" in out and "52.7 ms (57.0%)" in out
    assert "where id = ?" in out and "re.compile" in out


def test_sql_keeps_its_shape():
    assert redact("SELECT id FROM users WHERE email = 'a@b.io' AND age > 30 LIMIT 10") == \
        "SELECT id FROM users WHERE email = '?' AND age > ? LIMIT ?"


def test_home_paths_become_tilde():
    assert redact("/home/alice/shop/app.py:12") == "~/shop/app.py:12"
    assert redact("/root/app/main.py") == "~/app/main.py"


def test_tags_by_key_name():
    tags = redact_mapping({"api_key": "plainword", "user": "dan@example.com", "route": "/users/{id}"})
    assert tags == {"api_key": "[REDACTED]", "user": "[email]", "route": "/users/{id}"}
