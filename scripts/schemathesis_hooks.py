"""Hooks scripts/schemathesis.sh loads into schemathesis (SCHEMATHESIS_HOOKS).

No `ast` parsing in hypothesis: to name a strategy's filter or map (only
for its repr), hypothesis parses the lambda's source file with `ast`, deep in
schemathesis' stack. On CPython before 3.11.8 / 3.12.2 such a parse can fail
with "AST constructor recursion depth mismatch" (python/cpython#106905),
which schemathesis reports as an error of whatever operation it was
generating: a deeper recursion limit made it rarer, not gone (it failed one
CI run in several). So hypothesis never reads a lambda's source here: its
description of a lambda is a fixed name (names only appear in reprs), and its
filter analysis gives up on lambdas (falling back to rejection sampling).

A fresh Idempotency-Key for every request that carries a valid one: the
generated keys are short and repeat, and a write with a key already used is
answered with the first outcome (docs/protocol.md 1.2), whatever it asks,
which schemathesis would take for the answer to the second request.
Invalid keys are kept: they are what a negative case tests.
"""

import re
import sys
import uuid

import hypothesis.internal.filtering
import hypothesis.internal.lambda_sources
import schemathesis

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))


def _lambda_name(fn):
    return "lambda (source not read)"


def _no_source(fn):
    raise ValueError("lambda sources are not read here")


# Every description of a lambda goes through this module attribute.
hypothesis.internal.lambda_sources.lambda_description = _lambda_name
# The filter analysis imported it by name; without a source it falls back to
# plain rejection sampling.
hypothesis.internal.filtering.lambda_description = _no_source


VALID_KEY = re.compile(r"[\x21-\x7e]{1,128}")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key" and isinstance(case.headers[name], str):
            if VALID_KEY.fullmatch(case.headers[name]):
                case.headers[name] = str(uuid.uuid4())
