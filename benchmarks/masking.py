"""Benchmark: masking throughput (lines a CPU second) of realistic log lines, and which lines
another checkout's masker masks differently.

The lines are made once, from a fixed seed, in this process: database driver errors (psycopg,
redis-py and pymongo as they word them, some echoing a connection string, an INSERT's values or
a password), access-log lines (some with a token in the query), JSON log lines (ECS fields,
some with request headers: Cookie, Set-Cookie, Authorization), Docker json-file lines holding
such JSON lines (their quotes escaped) and the texts of the masking corpus
(tests/security/masking_corpus.py). Each tree masks them in a fresh process (``Masker()``, one
warm-up pass, then ``--passes`` timed passes, CPU time). With ``--baseline
DIR`` (another checkout of sloctl, e.g. ``git archive REV sloctl | tar -x -C DIR``), that
version runs too, with ``PYTHONPATH=DIR``, the two in turn ``--rounds`` times, so both see the
same load; its last column counts the lines it masked differently from this tree, and
``--show N`` prints N of them.

``--repository REV`` adds the distinct non-blank lines of this repository's text files at REV
as one more kind.

Usage::

    .venv/bin/python benchmarks/masking.py [--lines 3000] [--passes 5] [--rounds 3]
        [--baseline DIR] [--show 20] [--repository REV]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261207
"""Fixed, so that every run and every tree masks the same lines."""

SHOWN_BEFORE, SHOWN = 30, 100
"""How much of a line masked differently ``--show`` prints: from this many characters before the
first difference, this many in all (a JSON line is longer than a screen)."""

TOKEN_IN_QUERY, PAGE_IN_QUERY, HEADERS_IN_JSON = 0.1, 0.2, 0.25
"""Shares of access-log lines with a token (then, of the others, a page) in the query, and of
JSON lines with request and response headers: enough of each for the masker to work on, most
lines holding nothing secret, as in a real log."""

_HOSTS = ("127.0.0.1", "db.test", "cache.test", "[::1]")
_USERS = ("platform", "app", "jane.doe", "backup")
_PATHS = ("/v1/projects", "/v1/projects/42", "/v1/projects/42/backups", "/v1/databases/7", "/healthz")
_AGENTS = ("python-httpx/0.27.2", "locust/2.32", "curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64)")
_EMAILS = ("jane.doe@example.com", "bob_smith@corp.test", "ops+alerts@mail.example.co.uk")
_PHONES = ("+1 415-555-0142", "(415) 555-0134", "020 7946 0321", "+33 6 12 34 56 78")
_CARDS = ("4111111111111111", "5555-5555-5555-4444", "378282246310005")


def _word(rnd: random.Random, size: int = 12) -> str:
    return "".join(rnd.choice("abcdefghijkmnpqrstuvwxyz0123456789-_") for _ in range(size))


def _hex(rnd: random.Random, size: int) -> str:
    return "".join(rnd.choice("0123456789abcdef") for _ in range(size))


def driver_error(rnd: random.Random) -> str:
    """A database driver's error, as psycopg, redis-py and pymongo word them."""
    host, user, pw = rnd.choice(_HOSTS), rnd.choice(_USERS), _word(rnd, 10)
    return rnd.choice(
        (
            f'connection to server at "{host}", port 5432 failed: FATAL:  password authentication'
            f' failed for user "{user}"',
            f"connection to postgresql://{user}:{pw}@{host}:5432/platform failed: timeout expired",
            f'duplicate key value violates unique constraint "users_email_key" DETAIL:  Key (email)='
            f"({rnd.choice(_EMAILS)}) already exists.",
            f"INSERT INTO users VALUES ('Jane', '{rnd.choice(_EMAILS)}', '{rnd.choice(_PHONES)}',"
            f" '{rnd.choice(_CARDS)}') failed: value too long for type character varying(16)",
            f"Error 111 connecting to {host}:6379. Connection refused. (redis://:{pw}@{host}:6379/0)",
            f"{host}:27017: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 10000.0ms,"
            f" connectTimeoutMS: 20000.0ms), Timeout: 30s, Topology Description: <TopologyDescription"
            f" id: {_hex(rnd, 24)}, topology_type: Unknown>",
            f"host={host} port=6432 dbname=platform user={user} password={pw} sslmode=prefer:"
            f" server closed the connection unexpectedly (pid {rnd.randint(1000, 99999)})",
            f"canceling statement due to statement timeout after {rnd.randint(1, 5000)}ms",
        )
    )


def access_line(rnd: random.Random) -> str:
    """A combined-format access-log line with the request's duration at the end."""
    path = rnd.choice(_PATHS)
    if rnd.random() < TOKEN_IN_QUERY:
        path += f"?token={_word(rnd)}&page={rnd.randint(1, 9)}"
    elif rnd.random() < PAGE_IN_QUERY:
        path += f"?page={rnd.randint(1, 9)}&per_page=50"
    day = f"07/Dec/2026:{rnd.randint(0, 23):02}:{rnd.randint(0, 59):02}:{rnd.randint(0, 59):02} +0000"
    return (
        f'127.0.0.1 - - [{day}] "{rnd.choice(("GET", "POST", "DELETE"))} {path} HTTP/1.1"'
        f' {rnd.choice((200, 201, 204, 404, 429, 503))} {rnd.randint(0, 40000)} "-"'
        f' "{rnd.choice(_AGENTS)}" {rnd.random():.3f}'
    )


def json_line(rnd: random.Random) -> str:
    """An ECS JSON log line; :data:`HEADERS_IN_JSON` of them hold headers with credentials."""
    line: dict[str, object] = {
        "@timestamp": f"2026-12-07T01:{rnd.randint(0, 59):02}:{rnd.randint(0, 59):02}"
        f".{rnd.randint(0, 999):03}Z",
        "log.level": rnd.choice(("info", "warn", "error")),
        "message": rnd.choice((driver_error(rnd), "backup finished", "pool exhausted, waiting 25ms")),
        "trace.id": _hex(rnd, 32),
        "span.id": _hex(rnd, 16),
        "event.duration": rnd.randint(10**5, 10**9),
        "url.path": rnd.choice(_PATHS),
    }
    if rnd.random() < HEADERS_IN_JSON:
        line["http.request.headers"] = {
            "authorization": f"Bearer {_word(rnd, 24)}",
            "cookie": f"sid={_word(rnd)}; theme=dark",
            "user-agent": rnd.choice(_AGENTS),
        }
        line["http.response.headers"] = {"set-cookie": f"sid={_word(rnd)}; Path=/; HttpOnly; SameSite=Lax"}
    return json.dumps(line)


def docker_line(rnd: random.Random) -> str:
    r"""A Docker json-file line: a container's ECS JSON line (:func:`json_line`) as the string of
    its ``log`` field, so its quotes are escaped (``{\"authorization\": \"Bearer …\"}``)."""
    stamp = f"2026-12-07T01:{rnd.randint(0, 59):02}:{rnd.randint(0, 59):02}.{rnd.randint(0, 10**9 - 1):09}Z"
    return json.dumps(
        {"log": json_line(rnd) + "\n", "stream": rnd.choice(("stdout", "stderr")), "time": stamp}
    )


def lines(count: int) -> dict[str, list[str]]:
    """``count`` lines of each kind, and the corpus's texts."""
    sys.path.insert(0, str(ROOT))
    from tests.security.masking_corpus import CLEAN, MASKED_AS, SENSITIVE

    rnd = random.Random(SEED)
    return {
        "driver errors": [driver_error(rnd) for _ in range(count)],
        "access log": [access_line(rnd) for _ in range(count)],
        "JSON lines": [json_line(rnd) for _ in range(count)],
        "Docker lines": [docker_line(rnd) for _ in range(count)],
        "corpus": [text for text, _ in SENSITIVE] + CLEAN + [text for text, _ in MASKED_AS],
    }


def repository_lines(rev: str) -> list[str]:
    """The distinct non-blank lines of the text files of this repository at ``rev`` (code,
    docs, YAML; ``git grep -I``): real text the masker must leave alone but where a secret
    shape is, so that a change to it shows every line it masks differently."""
    found = subprocess.run(
        ["git", "grep", "-I", "-h", "-e", "", rev], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode(errors="replace")
    return sorted({line for line in found.splitlines() if line.strip()})


class Result(TypedDict):
    """One tree's run: lines a CPU second and the masked lines, by kind."""

    rates: dict[str, float]
    masked: dict[str, list[str]]


def measure(kinds: dict[str, list[str]], passes: int) -> Result:
    """Mask every kind ``passes`` times after one warm-up pass: lines a CPU second, and the
    masked lines."""
    from sloctl.masking import Masker

    masker = Masker()
    rates: dict[str, float] = {}
    masked: dict[str, list[str]] = {}
    for kind, texts in kinds.items():
        masked[kind] = [masker(text) for text in texts]
        started = time.process_time()
        for _ in range(passes):
            for text in texts:
                masker(text)
        rates[kind] = passes * len(texts) / (time.process_time() - started)
    return {"rates": rates, "masked": masked}


def _run(kinds: dict[str, list[str]], passes: int, path: str) -> Result:
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--passes", str(passes)],
        env=env,
        check=True,
        capture_output=True,
        input=json.dumps(kinds).encode(),
    )
    result: Result = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000, help="generated lines of each kind")
    parser.add_argument("--passes", type=int, default=5, help="timed passes over the lines per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout's folder holding sloctl/, run in turn")
    parser.add_argument("--show", type=int, default=0, help="print this many lines masked differently")
    parser.add_argument(
        "--repository",
        metavar="REV",
        help="also mask the distinct lines of this commit's text files (about 73,000: use --passes 1)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(sys.stdin.read()), args.passes)))
        return
    kinds = lines(args.lines)
    if args.repository:
        kinds["repository"] = repository_lines(args.repository)
    trees = {"this tree": str(ROOT), **({"baseline": args.baseline} if args.baseline else {})}
    print(f"| round | tree | {' | '.join(kinds)} (lines/s) | lines masked differently from this tree |")
    print("|---|---|" + "---:|" * (len(kinds) + 1))
    results: dict[str, Result] = {}
    for round_ in range(1, args.rounds + 1):
        for name, path in trees.items():
            results[name] = _run(kinds, args.passes, path)
            rates = results[name]["rates"]
            differ = _differences(kinds, results[name], results["this tree"])
            cells = " | ".join(f"{rates[kind]:,.0f}" for kind in kinds)
            print(f"| {round_} | {name} | {cells} | {len(differ)} |")
    if "baseline" in results:
        _show(_differences(kinds, results["baseline"], results["this tree"])[: args.show])


def _show(differences: list[tuple[str, str, str]]) -> None:
    """Each line masked differently, from a little before its first difference."""
    for _text, before, after in differences:
        first = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), len(before))
        start = max(0, first - SHOWN_BEFORE)
        print(f"- baseline:  …{before[start : start + SHOWN]}\n  this tree: …{after[start : start + SHOWN]}")


def _differences(kinds: dict[str, list[str]], one: Result, other: Result) -> list[tuple[str, str, str]]:
    """(line, masked by ``one``, masked by ``other``) where the two differ."""
    first, second = one["masked"], other["masked"]
    return [
        (text, a, b)
        for kind, texts in kinds.items()
        for text, a, b in zip(texts, first[kind], second[kind], strict=True)
        if a != b
    ]


if __name__ == "__main__":
    main()
