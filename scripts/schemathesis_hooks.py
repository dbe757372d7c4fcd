"""Loaded by scripts/schemathesis.sh (SCHEMATHESIS_HOOKS) before the run.

A deeper recursion limit: hypothesis parses sources with `ast` while
describing its strategies, deep in schemathesis' stack; at Python's default
limit that parse can fail, and on CPython before 3.11.8 / 3.12.2 a failed one
leaves `ast` broken for the rest of the process ("AST constructor recursion
depth mismatch", python/cpython#106905), which schemathesis reports as an
error of whatever operation it was generating.
"""

import sys

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
