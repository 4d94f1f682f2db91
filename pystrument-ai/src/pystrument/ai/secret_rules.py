"""Our own secret shapes, for what detect-secrets (``secret_detectors.py``) does not find on one line:
unquoted ``key=value`` / ``key: value`` where the key names a secret (the whole value, spaces and all, for
passwords and passphrases), ``-pSECRET`` and ``--password SECRET`` on command lines, passwords in URLs and
DSNs, ``Authorization`` header values, provider keys of formats the library lacks (Anthropic/DeepSeek
``sk-...``, Google ``AIza...``), AWS secret keys outside quotes (40 characters, ``/`` and ``+`` included),
payment card numbers (checked with Luhn and the issuer prefixes), e-mail addresses and long random tokens.

Each rule is a regular expression with a group ``secret`` (what goes) and a kind (what the marker says);
``find(line)`` yields their spans.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# key names that hold a secret: the name ends with one of these words (``db_password``, ``API_TOKEN``,
# ``aws_secret_access_key``); ``pass``/``pw``/``pwd`` only as a word of their own (not ``bypass``, ``compass``)
_SECRET_WORD = (r"(?:passw(?:or)?d|passwd|passphrase|(?<![a-z])(?:pass|pw|pwd)|secret|token|api[_-]?key|apikey|access[_-]?key|"
                r"private[_-]?key|secret[_-]?key|credentials?|(?<![a-z])auth|session[_-]?id|cookie|signature|dsn)")
KEY = r"(?<![\w.-])(?P<key>[\w.-]*?" + _SECRET_WORD + r")(?![\w-])"
# words after which the rest of an unquoted value is one secret (a passphrase has spaces)
_PASSWORD_KEY = re.compile(r"(?i)(?:passw(?:or)?d|passwd|passphrase|(?<![a-z])(?:pass|pw|pwd))$")
# unquoted values that are code or placeholders, not secrets: types, calls, attributes, templates, masks
_NOT_A_VALUE = re.compile(
    r"""(?x)^(?:
        (?:None|null|nil|True|False|true|false|undefined|str|bytes|int|bool|dict|list|Any|SecretStr|SecretBytes)\b.*
      | (?:Optional|Union|Annotated|Callable|type)\[.*
      | [A-Za-z_][\w]*\s*[(\[].*             # a call or a subscript: get_password(), os.environ[...]
      | [A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+.*    # an attribute: settings.SECRET_KEY, self.token
      | [$%{<].* | \*+ | \?+ | x{3,} | \[REDACTED[^\]]*\].*
    )$""")


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    keep: Callable[[re.Match[str]], bool] | None = None  # False: not a secret after all
    extend: Callable[[re.Match[str], str], int] | None = None  # where the secret really ends
    hint: re.Pattern[str] | None = None  # a cheap test a line must pass for the rule to run on it


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# issuer prefixes and lengths: Visa, Mastercard, American Express, Discover, JCB, Diners Club, UnionPay, Maestro
_CARD_ISSUER = re.compile(r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9]|[3-6]\d|7[01]|720)\d{12}|3[47]\d{13}|6(?:011|5\d\d|4[4-9]\d)\d{12,15}"
                          r"|35(?:2[89]|[3-8]\d)\d{12,15}|3(?:0[0-5]|[68]\d)\d{11,16}|62\d{14,17}|(?:50|5[6-9]|6\d)\d{10,17})$")


def _card(m: re.Match[str]) -> bool:
    digits = re.sub(r"[ -]", "", m.group("secret"))
    return 13 <= len(digits) <= 19 and bool(_CARD_ISSUER.match(digits)) and luhn_ok(digits)


def _value(m: re.Match[str]) -> bool:
    value = m.group("secret")
    return bool(value) and not (m.group("q") is None and _NOT_A_VALUE.match(value))


def _passphrase_end(m: re.Match[str], line: str) -> int:
    """An unquoted password runs to the end of the value (spaces included): up to a separator, the next
    ``key=``, a closing bracket or the end of the line."""
    if m.group("q") or not _PASSWORD_KEY.search(m.group("key")):
        return m.end("secret")
    rest = line[m.end("secret"):]
    stop = re.search(r"""\s+[\w.-]+\s*[=:]|[,;&'"\])}]|\s+(?:-{1,2}\w|\||>|&&)|\s*$""", rest)
    return m.end("secret") + (stop.start() if stop else len(rest))


def _credential(m: re.Match[str]) -> bool:
    """A header credential, not a word: ``Bearer abc.def-1``, ``Basic dXNlcjpw==`` (not ``token expired``)."""
    value = m.group("secret")
    return any(c.isdigit() or c in "._~+/=-" for c in value) or (any(c.isupper() for c in value) and any(c.islower() for c in value))


def _not_in_url(m: re.Match[str]) -> bool:
    """``password@host`` of ``scheme://user:password@host`` is the URL's password, not an address."""
    return not re.search(r"://[^\s/@:]*:$", m.string[:m.start()])


def _aws_secret(m: re.Match[str]) -> bool:
    token = m.group("secret")
    return (any(c in token for c in "/+") and any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token) and _entropy(token) >= 4.0)


def _random(m: re.Match[str]) -> bool:
    token = m.group("secret")
    return (any(c.isdigit() for c in token) and any(c.isalpha() for c in token) and token.count("_") <= 2
            and _entropy(token) >= 4.0)


RULES: tuple[Rule, ...] = (
    # credentials in URLs and DSNs: scheme://user:password@host
    Rule("dsn-password", re.compile(r"\b[a-zA-Z][\w+.-]*://[^\s:/@]*:(?P<secret>[^\s@/]+)@")),
    # Authorization / Proxy-Authorization headers and bearer / basic / token credentials
    Rule("authorization", re.compile(r"(?i)(?<![\w-])(?:bearer|basic|token|digest|negotiate)\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})"), keep=_credential),
    # key=value, key: value, "key": "value", key => 'value' where the key names a secret
    Rule("secret-value", re.compile(KEY + r"""["']?\s*(?:=>|:=|[:=])\s*(?P<q>["'`])?(?P<secret>(?(q)[^"'`\n]*|[^\s"'`,;&)}\]]+))(?(q)["'`]|)""", re.I),
         keep=_value, extend=_passphrase_end, hint=re.compile(r"(?i)pass|pw|secret|token|key|credential|auth|session|cookie|signature|dsn")),
    # command lines: mysql -pSECRET (no space: the MySQL/MariaDB tools), --password SECRET, sshpass -p SECRET, redis-cli -a SECRET
    Rule("cli-password", re.compile(r"\b(?:mysql\w*|mariadb\w*|mysqldump|mysqladmin)\b[^\n|;]*?\s-p(?P<secret>[^\s'\"]+)")),
    Rule("cli-password", re.compile(r"(?i)(?<![\w-])--(?:password|passwd|pass|passphrase|secret|token|api-key|auth-token)[= ]\s*(?P<q>[\"'])?(?P<secret>(?(q)[^\"'\n]+|\S+))")),
    Rule("cli-password", re.compile(r"\b(?:sshpass\s+-p|redis-cli\b[^\n|;]*?\s-a)\s*(?P<secret>\S+)")),
    # provider key formats outside quotes or of formats detect-secrets lacks
    Rule("api-key", re.compile(r"\b(?P<secret>(?:sk|pk|rk)-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{16,})")),
    Rule("api-key", re.compile(r"\b(?P<secret>AIza[0-9A-Za-z_-]{30,})")),
    Rule("api-key", re.compile(r"\b(?P<secret>(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,})")),
    Rule("github-token", re.compile(r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,})")),
    Rule("slack-token", re.compile(r"\b(?P<secret>xox[abprs]-[A-Za-z0-9-]{10,})")),
    Rule("json-web-token", re.compile(r"\b(?P<secret>eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)")),
    Rule("aws-access-key", re.compile(r"\b(?P<secret>(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|A3T[A-Z0-9])[0-9A-Z]{16})\b")),
    # an AWS secret access key anywhere: 40 characters of base64 with / or +
    Rule("aws-secret-key", re.compile(r"(?<![\w/+.-])(?P<secret>[A-Za-z0-9/+]{40})(?![\w/+=.-])"), keep=_aws_secret),
    # payment card numbers: 13 to 19 digits, in groups or not, with a valid issuer prefix and Luhn check digit
    Rule("card-number", re.compile(r"(?<![\w.-])(?P<secret>\d(?:[ -]?\d){12,18})(?![\w.-])"), keep=_card),
    Rule("email", re.compile(r"\b(?P<secret>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"), keep=_not_in_url),
    # long hex outside file paths (session ids, hashed tokens); hex between slashes is a path (a commit, a cache dir)
    Rule("hex-token", re.compile(r"(?<![\w/-])(?P<secret>[0-9a-fA-F]{32,})(?![\w-])(?!/)")),
    # long random-looking tokens (not in paths: a path's segments are words)
    Rule("random-token", re.compile(r"(?<![\w/.-])(?P<secret>[A-Za-z0-9+_-]{32,}={0,2})(?![\w/.=-])"), keep=_random),
)


def find(line: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of every secret our rules find in ``line``."""
    for rule in RULES:
        if rule.hint is not None and not rule.hint.search(line):
            continue
        for m in rule.pattern.finditer(line):
            if rule.keep is not None and not rule.keep(m):
                continue
            end = rule.extend(m, line) if rule.extend is not None else m.end("secret")
            if end > m.start("secret"):
                yield m.start("secret"), end, rule.kind
