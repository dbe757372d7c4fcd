"""Hooks scripts/schemathesis.sh loads into schemathesis (SCHEMATHESIS_HOOKS).

A deeper recursion limit: hypothesis parses sources with `ast` while
describing its strategies, deep in schemathesis' stack; at Python's default
limit that parse can fail, and on CPython before 3.11.8 / 3.12.2 a failed one
leaves `ast` broken for the rest of the process ("AST constructor recursion
depth mismatch", python/cpython#106905), which schemathesis reports as an
error of whatever operation it was generating.

A fresh Idempotency-Key for every request that carries a valid one: the
generated keys are short and repeat, and a write with a key already used is
answered with the first outcome (docs/protocol.md 1.2), whatever it asks,
which schemathesis would take for the answer to the second request.
Invalid keys are kept: they are what a negative case tests.
"""

import re
import sys
import uuid

import schemathesis

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

VALID_KEY = re.compile(r"[\x21-\x7e]{1,128}")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key" and isinstance(case.headers[name], str):
            if VALID_KEY.fullmatch(case.headers[name]):
                case.headers[name] = str(uuid.uuid4())
