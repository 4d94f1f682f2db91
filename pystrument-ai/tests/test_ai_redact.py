"""Redaction: what must never reach an AI provider, and what must survive for the analysis to work.

Two corpora: SECRETS (each case: a line, the secret parts that must be gone, the marker's kind) and HARMLESS
look-alikes that must come out unchanged. Harmless by decision: identifiers containing a secret's word,
UUIDs (request and record ids: not secrets, and the analysis refers to them), hex inside file paths
(commits, cache directories), timestamps (epoch milliseconds are 13 digits, like a card, but no issuer
starts with 17), version strings, SQL with placeholders, IP addresses, code that reads a secret without
containing it (``password = os.environ["DB_PASSWORD"]``).
"""

from __future__ import annotations

import pytest
from pystrument.ai.redact import redact, redact_mapping
from pystrument.ai.secret_rules import luhn_ok

# (text, the parts of the secret that must all be gone, the kind in the marker)
SECRETS: list[tuple[str, list[str], str]] = [
    # key = value where the key names a secret
    ("db_pass=Tr0ub4dor&3", ["Tr0ub4dor"], "secret-value"),
    ('{"pass": "hunter2", "user": "x"}', ["hunter2"], "secret-value"),
    ("pw='s3cr3t!'", ["s3cr3t!"], "secret-value"),
    ('{"password": "hunter2", "user": "x"}', ["hunter2"], "secret-keyword"),
    ("password: correct horse battery staple", ["correct", "horse", "battery", "staple"], "secret-value"),
    ("passphrase=open sesame now please", ["open", "sesame", "now", "please"], "secret-value"),
    ('DB_PASSWORD="my long pass phrase"', ["my long pass phrase", "phrase"], "secret-keyword"),
    ("PGPASSWORD=pgS3cret psql -h db", ["pgS3cret"], "secret-value"),
    ("client_secret=Zx8-Qw7_Er6", ["Zx8-Qw7_Er6"], "secret-value"),
    ("SECRET_KEY = 'django-insecure-9x!k#2@pq'", ["django-insecure-9x!k#2@pq", "9x!k#2@pq"], "secret-keyword"),
    ("api_key: AbCdEf123456", ["AbCdEf123456"], "secret-value"),
    ("X-Api-Key: 7f3e2a9b1c4d5e6f", ["7f3e2a9b1c4d5e6f"], "secret-value"),
    ("https://api.example.com/v1/items?token=tok_9f8e7d6c&page=2", ["tok_9f8e7d6c"], "secret-value"),
    ("session_id=Qm9yaXMgSm9obnNvbg", ["Qm9yaXMgSm9obnNvbg"], "secret-value"),
    ("Cookie: sessionid=abc123def456ghi", ["abc123def456ghi"], "secret-value"),
    ("$db_password = 'perl-style-9';", ["perl-style-9"], "secret-keyword"),
    ("config[:password] => 'rubyPw!42'", ["rubyPw!42"], "secret-keyword"),
    ("set auth_token := 'tok-123-abc'", ["tok-123-abc"], "secret-value"),
    ("private_key=MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu", ["MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu"], "secret-value"),
    ("credentials: u1:Pw_99x", ["u1:Pw_99x"], "secret-value"),
    # command lines
    ("mysql -u root -pSECRETpw123 shop", ["SECRETpw123"], "cli-password"),
    ("mysqldump -uadmin -pHunter2 --all-databases > dump.sql", ["Hunter2"], "cli-password"),
    ("pg_dump --password=Pg4dmin db", ["Pg4dmin"], "cli-password"),
    ("tool --token ghx_local_77aa99 --verbose", ["ghx_local_77aa99"], "cli-password"),
    ("sshpass -p 'Sup3r pass' ssh deploy@host", ["Sup3r pass", "Sup3r"], "cli-password"),
    ("redis-cli -h cache -a R3disPw info", ["R3disPw"], "cli-password"),
    # headers
    ("headers = {'Authorization': 'Bearer abc.def-ghi_jkl012345'}", ["abc.def-ghi_jkl012345"], "authorization"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", ["dXNlcjpwYXNzd29yZA=="], "authorization"),
    ("Proxy-Authorization: Token 9f8e7d6c5b4a39281706", ["9f8e7d6c5b4a39281706"], "authorization"),
    # URLs and DSNs
    ("DATABASE_URL=postgresql://app:s3cr3tPass@db:5432/app", ["s3cr3tPass"], "basic-auth-credentials"),
    ("redis://:redisPassw0rd@cache:6379/0", ["redisPassw0rd"], "dsn-password"),
    ("mongodb+srv://user:mongoPw99@cluster0.example.net/db", ["mongoPw99"], "basic-auth-credentials"),
    ("could not connect to mysql://shop:p%40ss-w0rd@db:3306/shop", ["p%40ss-w0rd"], "basic-auth-credentials"),
    ("amqp://guest:rabbit!pw@mq:5672//", ["rabbit!pw"], "dsn-password"),
    # provider keys and tokens
    ("OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUvWx123", ["sk-proj-AbCdEfGhIjKlMnOpQrStUvWx123", "AbCdEfGhIjKlMnOpQrStUvWx123"], "api-key"),
    ("client = OpenAI(api_key='sk-abcdefghijklmnopqrstuvwx')", ["sk-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"], "api-key"),
    ("anthropic key sk-ant-api03-Xy12Ab34Cd56Ef78Gh90", ["sk-ant-api03-Xy12Ab34Cd56Ef78Gh90", "Xy12Ab34Cd56Ef78Gh90"], "api-key"),
    ("stripe.api_key = sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["4eC39HqLyjWDarjtT1zdp7dc"], "stripe-access-key"),
    ("ghp_1234567890abcdefghijABCDEFGHIJklmnop", ["1234567890abcdefghijABCDEFGHIJklmnop"], "github-token"),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", ["AbCdEfGhIjKlMnOpQrStUvWx"], "slack-token"),
    ("maps AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", ["AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"], "api-key"),
    ("gitlab glpat-AbCdEf1234567890XyZw", ["glpat-AbCdEf1234567890XyZw"], "gitlab-token"),
    ("twine upload -p pypi-AgEIcHlwaS5vcmcCJGI4YmNhMDA1LTU2MGUtNDE3OS05YjJmLWI4NzE2MGU0ZjE4ZgACKlszWyJwcm9qZWN0cyIsInB5c3RydW1lbnQiXQAABiD9", ["AgEIcHlwaS5vcmcCJGI4YmNhMDA1LTU2MGUtNDE3OS05YjJmLWI4NzE2MGU0ZjE4ZgACKlszWyJwcm9qZWN0cyIsInB5c3RydW1lbnQiXQAABiD9"], "pypi-token"),
    ("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", ["TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"], "sendgrid-api-key"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.SflKxwRJSMeKKF2QT4fwpMeJf36P", ["eyJhbGciOiJIUzI1NiJ9", "SflKxwRJSMeKKF2QT4fwpMeJf36P"], "json-web-token"),
    # AWS
    ("key id AKIAIOSFODNN7EXAMPLE in use", ["AKIAIOSFODNN7EXAMPLE"], "aws-access-key"),
    ('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"], "aws-access-key"),
    ("export AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", ["je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "h3yCo8nvbEXAMPLEKEY"], "aws-secret-key"),
    ("secret key was wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in the log", ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "bPxRfiCYEXAMPLEKEY"], "aws-secret-key"),
    # card numbers (Visa, Mastercard, Amex, Discover; spaced, dashed, plain)
    ("charged card 4111 1111 1111 1111 ok", ["4111 1111 1111 1111", "1111 1111"], "card-number"),
    ("pan=5555-5555-5555-4444", ["5555-5555-5555-4444", "4444"], "card-number"),
    ("amex 378282246310005 declined", ["378282246310005"], "card-number"),
    ("card: 6011111111111117", ["6011111111111117"], "card-number"),
    ("order 42 paid with 4012888888881881 today", ["4012888888881881"], "card-number"),
    # random tokens and session ids
    ("session 3f7a9c2e4b1d8f6a0e5c7b9d2a4f6e8c1b3d5f7a", ["3f7a9c2e4b1d8f6a0e5c7b9d2a4f6e8c1b3d5f7a"], "hex-token"),
    ("reset link /reset?k=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg", ["Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"], "random-token"),
    ('signing = "Yq3tK9vL2mN8pR5sW1xZ7cB4dF6gH0jA"', ["Yq3tK9vL2mN8pR5sW1xZ7cB4dF6gH0jA"], "base64-high-entropy-string"),
    # e-mail addresses
    ("contact alice.smith+shop@mail.example.co.uk now", ["alice.smith+shop@mail.example.co.uk", "alice.smith"], "email"),
    ("OperationalError: login failed for bob@corp.example", ["bob@corp.example"], "email"),
]

# lines that look like secrets and are not: they must survive unchanged
HARMLESS: list[str] = [
    # identifiers with a secret's word in them
    "def get_password_hash(password: str) -> str:",
    "passenger_count=3",
    "token_bucket = TokenBucket(rate=10, burst=20)",
    "class PasswordResetView(View):",
    "auth_middleware (/srv/app/middleware.py:40)",
    "check_password_strength(user, new_password)",
    "bypass=true",
    "compass: north",
    "password_reset_token_expiry = 3600",
    "hashed = hasher.verify(password, stored_hash)",
    "if token is None: raise Unauthorized()",
    "tokens_used=1520 prompt_tokens=1200",
    "def authenticate(request, token: Optional[str] = None):",
    # code that reads a secret without holding it
    'password = os.environ["DB_PASSWORD"]',
    "secret = get_secret_key()",
    "api_key = settings.OPENAI_API_KEY",
    "token = request.headers.get('X-Token')",
    "password=None",
    "password: ${DB_PASSWORD}",
    "password = {{ vault_db_password }}",
    "password=********",
    # ids, hashes in paths, timestamps, versions
    "request 7c9e6679-7425-40de-944b-e07cc4130fd0 took 512 ms",
    "record_id=550e8400-e29b-41d4-a716-446655440000",
    "/srv/releases/3f7a9c2e4b1d8f6a0e5c7b9d2a4f6e8c1b3d5f7a/app/views.py:12",
    "~/.cache/pip/wheels/9a/4b/c0f1e2d3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9/pkg.whl",
    "started_at 2026-12-04T20:24:43.123456+00:00",
    "epoch_ms=1733340283123",
    "ts 1733340283123 1733340283124",
    "version 2.31.0, python 3.11.9, django 5.0.4",
    "pystrument-core==0.1.0",
    "commit 3f7a9c2 (short) on main",
    "ETag: W/\"1a2b3c\"",
    # numbers that are not cards
    "order_total=4111 items=12",
    "phone +1 555 0100",
    "duration_ms=1234567890123 (a bogus number, fails the issuer check)",
    "isbn 978-3-16-148410-0",
    # SQL with placeholders, URLs without credentials, paths
    "SELECT id, name FROM users WHERE id = ? AND status = %s",
    "INSERT INTO orders (user_id, total) VALUES (%(user_id)s, %(total)s)",
    "GET https://api.example.com/v1/items?page=2&sort=-created",
    "postgresql://db:5432/app",
    "http://localhost:8000/health",
    "/srv/app/site-packages/django/db/backends/utils.py:89",
    "File \"/srv/app/auth/tokens.py\", line 33, in make_token",
    "- self 52.7 ms (57.0%): orders_page (~/app/views.py:10) > load_customer (/srv/app/db.py:5) > Connection.execute [built-in]",
    # words after header-like words, and ordinary prose
    "the token expired after 3600 seconds",
    "Basic realm",
    "Token authentication failed for user 42",
    "password reset requested",
    "connect to 10.0.0.12:5432 timed out",
    "retry budget: 3 attempts, backoff 0.5 s",
    "cache hit ratio 0.93 for key user:42:profile",
    "for word in BANNED: re.compile(rf\"\\b{word}\\b\")",
]


@pytest.mark.parametrize("text,parts,kind", SECRETS, ids=[t[:40] for t, _, _ in SECRETS])
def test_secret_is_removed_whole(text, parts, kind):
    out = redact(text)
    for part in parts:
        assert part not in out, f"{part!r} left in {out!r}"
    assert f"[REDACTED:{kind}]" in out, out


@pytest.mark.parametrize("text", HARMLESS, ids=[t[:40] for t in HARMLESS])
def test_harmless_look_alike_survives(text):
    assert redact(text) == text


def test_the_corpora_are_big_enough():
    assert len(SECRETS) >= 50 and len(HARMLESS) >= 50


def test_multi_line_private_key_goes_whole():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq3tK9vL2mN8p\n-----END RSA PRIVATE KEY-----"
    out = redact(f"key = '''{key}'''\nnext line")
    assert "MIIEow" not in out and "q3tK9vL2mN8p" not in out and "[REDACTED:private-key]" in out and out.endswith("next line")


def test_several_secrets_on_one_line_keep_the_text_between():
    out = redact("login bob@x.io password=hunter2; from 10.0.0.1")
    assert out == "login [REDACTED:email] password=[REDACTED:secret-value]; from 10.0.0.1"


def test_a_password_runs_to_the_end_of_its_value():
    # unquoted, after a password's key, everything up to a separator or the next key=value is the password
    assert redact("password=my secret phrase user=bob") == "password=[REDACTED:secret-value] user=bob"
    assert redact("PASS: two words, next: field") == "PASS: [REDACTED:secret-value], next: field"


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_sql_keeps_its_shape():
    assert redact("SELECT id FROM users WHERE email = 'a@b.io' AND age > 30 LIMIT 10") == \
        "SELECT id FROM users WHERE email = '?' AND age > ? LIMIT ?"
    assert "Carol Jones" not in redact("UPDATE accounts SET balance = 1000.50 WHERE name = 'Carol Jones'")
    assert "secret-value" not in redact("INSERT INTO t (a, b) VALUES ('secret-value', 42)").replace("[REDACTED", "")


def test_home_paths_become_tilde():
    assert redact("/home/alice/shop/app.py:12") == "~/shop/app.py:12"
    assert redact("/root/app/main.py") == "~/app/main.py"
    assert redact("/Users/bob.m/dev/app.py") == "~/dev/app.py"
    assert redact(r"C:\Users\carol\proj\app.py") == r"~\proj\app.py"


def test_tags_by_key_name():
    tags = redact_mapping({"api_key": "plainword", "user": "dan@example.com", "route": "/users/{id}", "token_bucket": "full"})
    assert tags == {"api_key": "[REDACTED:secret-value]", "user": "[REDACTED:email]", "route": "/users/{id}", "token_bucket": "full"}


@pytest.mark.parametrize("text", [t for t, _, _ in SECRETS] + ["key = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----'''"])
def test_redacting_twice_changes_nothing(text):
    """The prompt's parts are redacted, then the whole again: a marker is never taken for a secret."""
    once = redact(text)
    assert redact(once) == once
