"""The masking corpus: strings as drivers, clients and operators write them.

``SENSITIVE`` pairs a text with the values that must not survive masking; ``CLEAN`` holds texts
that must come back unchanged (what operators need to read: durations, ports, pids, trace and
span ids, UUIDs, timestamps, addresses, versions); ``MASKED_AS`` pairs a text with its exact
masked form, where what survives beside the secret matters too (a cookie's name, a Set-Cookie
attribute, an Authorization scheme); ``STRUCTURED`` pairs data with the values that must not
survive :meth:`Masker.data`. All values are fake: example.com/.test domains,
the card networks' test numbers, NANP 555-01xx, Ofcom's drama numbers, the SSA's advertising
SSNs.
"""

from __future__ import annotations

SENSITIVE: list[tuple[str, list[str]]] = [
    # -- emails
    ("user jane.doe@example.com signed up", ["jane.doe@example.com"]),
    ("From: <ops+alerts@mail.example.co.uk>", ["ops+alerts@mail.example.co.uk"]),
    (
        "duplicate key value violates unique constraint: (email)=(bob_smith@corp.test)",
        ["bob_smith@corp.test"],
    ),
    ("mailto:first.last@sub.example.org?subject=hi", ["first.last@sub.example.org"]),
    ('{"email":"a.b-c@example.io","id":7}', ["a.b-c@example.io"]),
    ("contact: O'Brien.Pat@example.ie", ["Brien.Pat@example.ie"]),
    ("send to ALICE@EXAMPLE.COM now", ["ALICE@EXAMPLE.COM"]),
    # -- US social security numbers
    ("ssn 123-45-6789 on file", ["123-45-6789"]),
    ("tax id: 078-05-1120", ["078-05-1120"]),
    ("SSN=219 09 9999 provided", ["219 09 9999"]),
    ('{"ssn": "457-55-5462"}', ["457-55-5462"]),
    # -- card numbers (network test numbers; Luhn-valid)
    ("card 4111 1111 1111 1111 declined", ["4111 1111 1111 1111"]),
    ("pan=4012888888881881", ["4012888888881881"]),
    ("mastercard 5555-5555-5555-4444 ok", ["5555-5555-5555-4444"]),
    ("amex 378282246310005", ["378282246310005"]),
    ("amex 3714 496353 98431 expired", ["3714 496353 98431"]),
    ("discover 6011111111111117", ["6011111111111117"]),
    ("jcb 3530111333300000 charged", ["3530111333300000"]),
    ("diners 30569309025904", ["30569309025904"]),
    ("mc 2-series 2223003122003222", ["2223003122003222"]),
    ("unionpay 6200000000000005 refused", ["6200000000000005"]),
    ('INSERT failed: {"card": "4242424242424242", "cvc": 123}', ["4242424242424242"]),
    # -- phone numbers, E.164 and national forms
    ("phone +1 415-555-0100", ["415-555-0100"]),
    ("call +14155550123 now", ["+14155550123"]),
    ("tel +44 20 7946 0958", ["20 7946 0958"]),
    ("+33 6 12 34 56 78 (mobile)", ["6 12 34 56 78"]),
    ("whatsapp +49 30 12345678", ["30 12345678"]),
    ("(415) 555-0134 office", ["555-0134"]),
    ("cell 415-555-0188", ["415-555-0188"]),
    ("fax 415.555.0199", ["415.555.0199"]),
    ("home 415 555 0177", ["415 555 0177"]),
    ("london 020 7946 0321", ["020 7946 0321"]),
    ("mobile 07700 900123", ["07700 900123"]),
    ("manchester 0161 496 0000", ["0161 496 0000"]),
    ("paris 06 12 34 56 78", ["06 12 34 56 78"]),
    ("berlin 030 12345678", ["030 12345678"]),
    ("munich 089-1234567", ["089-1234567"]),
    ('{"phone":"+61 2 9876 5432"}', ["9876 5432"]),
    # -- passwords in URLs and DSNs
    ("connect postgresql://platform:s3cr3t@127.0.0.1:5432/platform failed", ["s3cr3t"]),
    ("redis://:redis-pw-9@127.0.0.1:6379/0", ["redis-pw-9"]),
    ("rediss://default:Zx9%40pw@cache.test:6380", ["Zx9%40pw"]),
    ("mongodb://root:m0ng0pass@127.0.0.1:27017/?authSource=admin", ["m0ng0pass"]),
    ("amqp://guest:gu3st-pw@broker.test:5672/%2f", ["gu3st-pw"]),
    ("https://deploy:ghp_token123@git.example.com/org/repo.git", ["ghp_token123"]),
    ("host=127.0.0.1 port=5432 dbname=platform user=platform password=pg-pass-1", ["pg-pass-1"]),
    ("host=db.test password='with space pw' sslmode=require", ["with space pw"]),
    ('dsn: "dbname=x password=\\"quoted pw\\""', ["quoted pw"]),
    ("PGPASSWORD=env-pw-77 psql -h 127.0.0.1", ["env-pw-77"]),
    ("postgresql://u:p@ss:w0rd@127.0.0.1/db", ["p@ss:w0rd"]),
    ("jdbc:postgresql://db.test:5432/app?user=app&password=jdbc-pw-3&ssl=true", ["jdbc-pw-3"]),
    ("--password=cli-pw-42 --user admin", ["cli-pw-42"]),
    # -- Authorization, Bearer, Basic, JWTs
    ("Authorization: Bearer abcdef0123456789abcdef", ["abcdef0123456789abcdef"]),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", ["dXNlcjpwYXNzd29yZA=="]),
    ("header Authorization: Token 9f8e7d6c5b4a", ["9f8e7d6c5b4a"]),
    ("curl -H 'Authorization: ApiKey ak_live_123456'", ["ak_live_123456"]),
    ("sent Bearer sk-live-AbCdEf123456 upstream", ["sk-live-AbCdEf123456"]),
    ("proxy-authorization: Basic YWRtaW46aHVudGVyMg==", ["YWRtaW46aHVudGVyMg=="]),
    ("retrying with Basic Ym9iOnMzY3IzdA== after 401", ["Ym9iOnMzY3IzdA=="]),
    (
        "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        ["SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"],
    ),
    ('{"headers": {"authorization": "Bearer t0k3n-abcdefgh"}}', ["t0k3n-abcdefgh"]),
    # -- secret fields in key=value text and JSON text
    ("api_key=AKIA1234567890EXAMPLE region=eu", ["AKIA1234567890EXAMPLE"]),
    ("client_secret: cs-0987654321", ["cs-0987654321"]),
    ('{"password": "json-pw", "user": "bob"}', ["json-pw"]),
    ("token=tk_abcdef; path=/", ["tk_abcdef"]),
    ("X-Api-Key: xak-112233", ["xak-112233"]),
    ("secret = 'single quoted'", ["single quoted"]),
    ("access_token=ya29.a0Af-long-token&expires_in=3599", ["ya29.a0Af-long-token"]),
    ("routing_key=R0UT1NGK3Y0123456789", ["R0UT1NGK3Y0123456789"]),
    ("private_key: -----BEGIN-----MIIEvQIBADAN", ["-----BEGIN-----MIIEvQIBADAN"]),
    ("passwd=p4ss.w0rd!", ["p4ss.w0rd!"]),
    ("https://api.test/v1?token=qs-token-55&page=2", ["qs-token-55"]),
    # the field check's separators in a free-text key: '_', '-' and '.' between a word's letters
    ("pass_word=abc123", ["abc123"]),
    ("db.pass-word: dotted-pw-4", ["dotted-pw-4"]),
    ("X_Authorization: xauth-0042", ["xauth-0042"]),
    ("credentials=svc-creds-31", ["svc-creds-31"]),
    # cookies: a session cookie logs in whoever holds it
    ("cookie=sid123456", ["sid123456"]),
    ('"cookie": "sid=abc123"', ["abc123"]),
    ("{'Cookie': 'csrftoken=c5rf-t0k; sessionid=s3ss-1d'}", ["c5rf-t0k", "s3ss-1d"]),
    ('Cookie: sid="quoted-v4lue"; theme=dark', ["quoted-v4lue", "dark"]),
    # -- several at once, as a driver's error message has them
    (
        "INSERT INTO users VALUES ('Jane', 'jane@example.com', '+1 415-555-0142', '4111111111111111')",
        ["jane@example.com", "415-555-0142", "4111111111111111"],
    ),
    (
        "connection to postgresql://app:pw-in-err@db.test:5432/x for carol@example.net failed",
        ["pw-in-err", "carol@example.net"],
    ),
]

CLEAN: list[str] = [
    # durations
    "probe took 0.004s (connect 1.2ms, auth 3ms)",
    "window 1h30m, period 30d, for 2m",
    "elapsed 00:00:05.123",
    "ISO 8601 duration PT1H30M",
    "timeout after 250ms; retry in 1.5 s",
    "p95 187.4 ms over 28d",
    # ports and port lists
    "listening on 127.0.0.1:9465",
    "ports 5432,6432,6379,27017",
    "upstream [::1]:6432 and 127.0.0.1:27017",
    "port range 30000-32767",
    "ports 5432 6432 6379",
    # pids and counters
    "pid 12345 exited with code 0",
    "postgres[4242]: LOG: checkpoint complete",
    "worker pids: 1201, 1202, 1203",
    "requests 1048576 failures 0",
    "bytes 4294967296",
    "id 1234567890123",
    "rows 999999999",
    # trace and span ids
    "trace.id=4bf92f3577b34da6a3ce929d0e0e4736 span.id=00f067aa0ba902b7",
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "trace 0af7651916cd43dd8448eb211c80319c",
    "span 53995c3f42cd8ad8",
    # UUIDs
    "request 123e4567-e89b-12d3-a456-426614174000 done",
    "uuid 00000000-0000-0000-0000-000000000000",
    "job f47ac10b-58cc-4372-a567-0e02b2c3d479",
    # timestamps
    "2026-11-01T12:34:56.789Z",
    "2026-11-01 09:30:00+01:00",
    "at 1767225600 (epoch)",
    "at 1767225600123 ms",
    "at 1767225600.123456",
    "ns 1767225600123456789",
    "Sun, 01 Nov 2026 12:34:56 GMT",
    "date 2026/11/01 time 23:59:59",
    "20261101T123456Z",
    # addresses, versions, names, paths and plain prose
    "connected to 10.0.0.12 and fe80::1",
    "PostgreSQL 15.4 on x86_64, pgbouncer 1.18.0",
    "sloctl 0.1.0, prometheus 2.42.0",
    "GET /v1/projects/42/backups 201",
    "file project-7-20261101T123456-a1b2c3.sql",
    'password authentication failed for user "platform"',
    "Basic authentication is not enabled",
    "a bearer of bad news",
    "token bucket refilled: 2000 tokens",
    "postgresql://platform@127.0.0.1:5432/platform",
    "redis://127.0.0.1:6379/0",
    "http://127.0.0.1:8080/path@v2",
    "the key cache:k1 expired",
    "secretary of state",
    # a free-text key names a secret only when it ends with the word: these are durations
    "token_ttl=300 password_age_days=90 session_cookie_max_age=3600",
    "api_keys: 3 loaded, tokens: 2000 left, cookies: 0",
    "cookie consent banner shown; Set-Cookie header missing from the answer",
    "version 2026-11-01",
    'exemplar {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.043 1767225600.123',
]

MASKED_AS: list[tuple[str, str]] = [
    # a single-quoted value to the quote that closes it: libpq's conninfo escapes a quote in it
    # as \' (\\' inside a JSON string), which ended the value there and left the rest in the
    # clear; a value the end of the text cuts runs to the end, as a double-quoted one does
    (
        "host=db.test password='it\\'s a s3cret' sslmode=require",
        "host=db.test password='[secret]' sslmode=require",
    ),
    (
        '{"dsn": "host=db.test password=\'it\\\\\'s a s3cret\' sslmode=require"}',
        '{"dsn": "host=db.test password=\'[secret]\' sslmode=require"}',
    ),
    (
        "FATAL: connection to host=db.test password='cut at the lim",
        "FATAL: connection to host=db.test password='[secret]",
    ),
    # a scheme longer than the 32 characters the URL step reads back from "://", or glued to a
    # long word: the userinfo is masked as a URL's, not as an email address
    (
        "ms-app.example.windows.camera.multipicker://me:c4m3ra-pw@host.test/",
        "ms-app.example.windows.camera.multipicker://me:[secret]@host.test/",
    ),
    ("x" * 200 + "https://deploy:l0ng-run-pw@git.test/r", "x" * 200 + "https://deploy:[secret]@git.test/r"),
    # every pair of a Cookie header, up to the end of the header value (a quote ends it)
    ("Cookie: sid=abc123def; theme=dark", "Cookie: sid=[secret]; theme=[secret]"),
    (
        "curl -H 'Cookie: a=b1; c=d2' http://127.0.0.1:8080/v1/projects",
        "curl -H 'Cookie: a=[secret]; c=[secret]' http://127.0.0.1:8080/v1/projects",
    ),
    # a Set-Cookie header keeps its cookie's name and its attributes (where and how long it is
    # sent), also where a client joined two headers with a comma
    ("Set-Cookie: session=abcdef123; Path=/", "Set-Cookie: session=[secret]; Path=/"),
    (
        "set-cookie: id=a3fWa; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly, "
        "refresh=r3fr3sh; Max-Age=3600; Domain=api.test; SameSite=Lax",
        "set-cookie: id=[secret]; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly, "
        "refresh=[secret]; Max-Age=3600; Domain=api.test; SameSite=Lax",
    ),
    # a cookie named like a secret field is masked once, not into "[secret]]"
    ("Set-Cookie: token=abcdef; Path=/", "Set-Cookie: token=[secret]; Path=/"),
    # the Authorization header keeps its scheme word and masks the credential after it
    ("authorization=Bearer abc", "authorization=Bearer [secret]"),
]

STRUCTURED: list[tuple[object, list[str]]] = [
    ({"password": "flat-pw"}, ["flat-pw"]),
    ({"db": {"credentials": {"user": "u", "password": "nested-pw"}}}, ["nested-pw"]),
    ({"tokens": ["tok-a-123", "tok-b-456"]}, ["tok-a-123", "tok-b-456"]),
    ({"api_key": {"primary": "k-one-111", "secondary": "k-two-222"}}, ["k-one-111", "k-two-222"]),
    ({"secret": 123456789}, ["123456789"]),
    ({"targets": [{"name": "pg", "dsn": "postgresql://u:list-pw@127.0.0.1/x"}]}, ["list-pw"]),
    ({"headers": {"Authorization": "Bearer hdr-token-xyz"}}, ["hdr-token-xyz"]),
    ({"Cookie": "session=abc123def456"}, ["abc123def456"]),
    ({"PGPASSWORD": "env-pw"}, ["env-pw"]),
    (
        {"client": {"email": "deep@example.com", "phone": "+1 415 555 0111"}},
        ["deep@example.com", "415 555 0111"],
    ),
    (
        [{"routing_key": "RK-0123456789"}, {"x-api-key": ["k1-abc", {"k": "k2-def"}]}],
        ["RK-0123456789", "k1-abc", "k2-def"],
    ),
    ({"configuration": {"redis_url": "redis://:cfg-pw@127.0.0.1:6379/0", "port": 6379}}, ["cfg-pw"]),
]

#: Data that must come back equal (nothing secret or personal in it).
STRUCTURED_CLEAN: list[object] = [
    {"port": 5432, "pid": 4242, "duration_seconds": 0.004, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
    {"key": "cache:k1", "keys": ["a", "b"], "primary_key": "id"},
    {"timestamps": ["2026-11-01T12:34:56Z", 1767225600], "uuid": "123e4567-e89b-12d3-a456-426614174000"},
]
