"""Checking a node's JSON-RPC answer before web3 sees it.

web3 parses whatever bytes come back: a body cut short by a proxy raises `JSONDecodeError`, an
HTML error page with status 200 likewise, and a batch answer with a wrong or missing id is
silently zipped with the wrong request (web3 sorts by id and zips without checking lengths).
These functions turn every such answer into a `BadAnswer` whose text says in one line what was
wrong, so the provider can retry it like a dropped connection.

A well-formed answer to a single request is an object with `"jsonrpc": "2.0"`, the request's
`id` (same JSON type and value) and exactly one of `result` / `error` (an object). A batch
answer is a list holding exactly one well-formed answer per request id, in any order (JSON-RPC
lets a server reorder a batch). An error with a null id (the node could not read our request,
or refuses the batch as a whole) is not an answer to our request either: the JSON-RPC spec
gives it for requests garbled on the way, which a retry fixes.
"""

from __future__ import annotations

import json
import re
from typing import Any

_LITERALS = ("null", "true", "false")
_NUMBER_PART = re.compile(r"[-+.0-9eE]*")
MAX_DETAIL = 120  # characters of a node's own error message kept in a reason

RequestId = int | str


class BadAnswer(Exception):
    """An HTTP 200 body that is not a well-formed answer to our request; str() is the reason."""


def request_ids(request_data: bytes) -> list[RequestId]:
    """The ids of the JSON-RPC request(s) in `request_data` (web3's encoding), in order.

    A single request gives a one-element list. Raises `ValueError` for bytes that are not a
    request we would send (a bug, not a node problem).
    """
    decoded = json.loads(request_data)
    requests = decoded if isinstance(decoded, list) else [decoded]
    ids = [request.get("id") for request in requests]
    if not all(_is_id(value) for value in ids):
        raise ValueError("every request must carry an int or str id")
    return ids


def parse_single(raw: bytes, request_id: RequestId) -> dict[str, Any]:
    """The answer object in `raw` for the request `request_id`; `BadAnswer` if malformed."""
    answer = _parse(raw)
    if isinstance(answer, list):
        raise BadAnswer(f"a list of {len(answer)} answer(s) to a single request")
    answer = _check_answer(answer)
    if not _same_id(answer["id"], request_id):
        raise BadAnswer(f"answer id {_short(answer['id'])} for request id {request_id!r}")
    return answer


def parse_batch(raw: bytes, ids: list[RequestId]) -> list[dict[str, Any]]:
    """The answers in `raw` to a batch with request `ids`, put in request order.

    Raises `BadAnswer` unless `raw` is a list with exactly one well-formed answer per id.
    """
    answers = _parse(raw)
    if not isinstance(answers, list):
        _check_answer(answers)  # an error with a null id says why, in the node's words
        raise BadAnswer(f"one answer to a batch of {len(ids)} requests")
    by_id: dict[RequestId, dict[str, Any]] = {}
    for item in answers:
        answer = _check_answer(item)
        key = answer["id"]
        if not any(_same_id(key, wanted) for wanted in ids):
            raise BadAnswer(f"batch answer with id {_short(key)}, not one of the request ids")
        if key in by_id:
            raise BadAnswer(f"batch answer with id {_short(key)} twice")
        by_id[key] = answer
    missing = [wanted for wanted in ids if wanted not in by_id]
    if missing:
        shown = ", ".join(repr(value) for value in missing[:5])
        raise BadAnswer(f"batch answer lacks {len(missing)} of {len(ids)} ids ({shown})")
    return [by_id[wanted] for wanted in ids]


def _parse(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadAnswer(f"body of {len(raw)} bytes is not UTF-8 text") from None
    if not text.strip():
        raise BadAnswer("empty body")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if _cut_short(exc) else "not JSON"
        raise BadAnswer(f"body of {len(raw)} bytes is {what}") from None


def _cut_short(exc: json.JSONDecodeError) -> bool:
    """Whether the JSON broke only because it ended: nothing but a started string, literal or
    number after the point where the parser stopped."""
    if exc.msg.startswith("Unterminated string"):
        return True
    rest = exc.doc[exc.pos :].strip()
    return (
        any(word.startswith(rest) for word in _LITERALS) or _NUMBER_PART.fullmatch(rest) is not None
    )


def _check_answer(answer: Any) -> dict[str, Any]:
    """An object with jsonrpc 2.0, an id, and exactly one of result / error (an object)."""
    if not isinstance(answer, dict):
        raise BadAnswer(f"answer is a JSON {type(answer).__name__}, not an object")
    if answer.get("jsonrpc") != "2.0":
        raise BadAnswer('answer without "jsonrpc": "2.0"')
    has_result, has_error = "result" in answer, "error" in answer
    if has_result == has_error:
        raise BadAnswer("answer with both result and error" if has_result else "empty answer")
    error = answer.get("error")
    if has_error and not isinstance(error, dict):
        raise BadAnswer("answer whose error is not an object")
    if "id" not in answer:
        raise BadAnswer("answer without an id")
    if answer["id"] is None and isinstance(error, dict):
        detail = str(error.get("message", ""))[:MAX_DETAIL]
        raise BadAnswer(f"error without a request id: {error.get('code')} {detail}".rstrip())
    if not _is_id(answer["id"]):
        raise BadAnswer(f"answer id {_short(answer['id'])} is not an int or a string")
    return answer


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _same_id(got: Any, wanted: RequestId) -> bool:
    """Equal value and JSON type: 1 is not "1", and True (== 1 in Python) is not 1."""
    return type(got) is type(wanted) and got == wanted


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
