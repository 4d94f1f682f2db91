"""Prompt redaction benchmark (``nox -s bench``): the time to redact prompts of 5 KB, 20 KB and 100 KB, with
detect-secrets' detectors and our rules (what ``redact`` does) beside our rules alone (the library's share).

The prompt is built like ``prompt.user_message`` builds one: hot paths, source lines of the hot functions
(with a secret planted every ~40 lines), tags. Target: a 100 KB prompt redacted in at most 1 s (a prompt is
redacted once per AI analysis, which then waits seconds for the provider).

Usage: python bench/bench_redact.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from pystrument.ai import secret_rules
from pystrument.ai.redact import redact

TARGET_S = 1.0
LINES = [
    "- self {ms:.1f} ms ({pct:.1f}%): orders_page (~/app/views.py:{n}) > load_customer (/srv/app/db.py:5) > Connection.execute [built-in]",
    "    row = conn.execute(\"select name, total from orders where customer_id = ? and status = 'open'\", (cid,)).fetchone()",
    "    for item in cart.items: total += item.price * item.quantity  # line {n}",
    "    token_bucket.take(1); passenger_count = {n}; user = get_user(request_id='7c9e6679-7425-40de-944b-e07cc4130fd0')",
    "  File \"/srv/releases/3f7a9c2e4b1d8f6a0e5c7b9d2a4f6e8c1b3d5f7a/app/services/pricing.py\", line {n}, in compute_discount",
    "    logger.info('checkout done in %.1f ms for order %s', elapsed_ms, order.id)",
    "    def get_password_hash(password: str) -> str: return hasher.hash(password)",
]
SECRETS = ["db_pass=Tr0ub4dor&3", "mysql -u root -pSECRETpw123 shop", "Authorization: Bearer abc.def-ghi_jkl012345",
           "card 4111 1111 1111 1111", "password: correct horse battery staple", "AKIAIOSFODNN7EXAMPLE"]


def prompt(size: int, rng: random.Random) -> str:
    lines: list[str] = []
    n = 0
    while sum(len(x) + 1 for x in lines) < size:
        n += 1
        line = rng.choice(LINES).format(ms=rng.random() * 50, pct=rng.random() * 100, n=n)
        lines.append(line if n % 40 else f"{line}  # {rng.choice(SECRETS)}")
    return "\n".join(lines)[:size]


def rules_only(text: str) -> str:
    """Our rules alone, the same replacement: what redaction would cost without the library's detectors."""
    out = []
    for line in text.split("\n"):
        spans = sorted(secret_rules.find(line))
        pos, parts = 0, []
        for start, end, kind in spans:
            if start >= pos:
                parts += [line[pos:start], f"[REDACTED:{kind}]"]
                pos = end
        out.append("".join(parts) + line[pos:])
    return "\n".join(out)


def best_of(fn, text: str, repeat: int) -> tuple[float, float, float]:
    """(best wall, median wall, median CPU of this thread): CPU time is what the load of others leaves alone."""
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn(text)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return min(times), statistics.median(times), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    rng = random.Random(7)
    redact("warm up: password=x")
    worst = 0.0
    for size in (5_000, 20_000, 100_000):
        text = prompt(size, rng)
        full_best, full_med, full_cpu = best_of(redact, text, repeat)
        own_best, own_med, own_cpu = best_of(rules_only, text, repeat)
        worst = max(worst, full_med) if size == 100_000 else worst
        print(f"{size // 1000:>4} KB, {text.count(chr(10)) + 1:>5} lines: redact (detect-secrets + our rules) median {full_med * 1000:7.1f} ms "
              f"(best {full_best * 1000:.1f}, CPU {full_cpu * 1000:.1f}); our rules alone median {own_med * 1000:6.1f} ms "
              f"(CPU {own_cpu * 1000:.1f}); ratio {full_cpu / own_cpu:.1f}x")
    print(f"target: 100 KB in at most {TARGET_S:.1f} s: " + ("met" if worst <= TARGET_S else "TARGET MISSED"))
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
