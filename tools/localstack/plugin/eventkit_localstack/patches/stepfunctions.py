"""Step Functions (LocalStack 4.9.2's interpreter).

* Every JSONPath (each ``.$`` parameter, ``ResultPath``, ``InputPath``) is evaluated by
  building a new ``jsonpath_ng`` parser, whose LALR tables ply generates each time: 10-30
  ms of CPU per path, under the one interpreter lock every service shares. The fix parses
  each distinct path once (a cost; the answer is the same).
"""

from __future__ import annotations

import functools


def parse_once(parse):
    """``parse`` (a ``jsonpath_ng`` parse function) remembering each path's expression.
    Expressions are immutable once built: ``find`` and ``update`` change the data, not them."""
    cached = functools.lru_cache(maxsize=4096)(parse)

    def patched(path, *args, **kwargs):
        if args or kwargs or not isinstance(path, str):
            return parse(path, *args, **kwargs)
        return cached(path)

    patched.eventkit_patched = True
    return patched


def _patch_jsonpath_parse() -> None:
    from localstack.services.stepfunctions.asl.component.common.path import result_path
    from localstack.services.stepfunctions.asl.utils import json_path

    for module in (json_path, result_path):
        if not getattr(module.parse, "eventkit_patched", False):
            module.parse = parse_once(module.parse)


