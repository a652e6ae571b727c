"""A small, deterministic YAML writer for the manifests otcmm generates.

PyYAML is not a runtime dependency, and generated manifests are committed and compared byte for
byte (`otcmm k8s render --check`): the output must not depend on a library's version. Only what
manifests need: mappings in insertion order, lists, strings (quoted unless plainly safe),
numbers, booleans and null.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def dump_documents(docs: list[dict[str, Any]]) -> str:
    return "---\n".join("\n".join(_node(doc, 0)) + "\n" for doc in docs)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        plain = _PLAIN.match(value) and value.lower() not in _RESERVED
        return value if plain else json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _node(value: object, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        return [
            line for key, item in value.items() for line in _entry(pad + _scalar(key), item, indent)
        ]
    if isinstance(value, list):
        lines = []
        for item in value:
            inner = _node(item, indent + 2) if isinstance(item, dict | list) and item else None
            if inner is None:
                lines.extend(_entry(pad + "-", item, indent, dash=True))
            else:
                lines.append(pad + "- " + inner[0].lstrip())
                lines.extend(inner[1:])
        return lines
    return [pad + _scalar(value)]


def _entry(head: str, value: object, indent: int, *, dash: bool = False) -> list[str]:
    sep = " " if dash else ": "
    if isinstance(value, dict | list) and not value:
        return [head + sep + ("{}" if isinstance(value, dict) else "[]")]
    if isinstance(value, dict | list):
        return [head + ":", *_node(value, indent + 2)]
    if isinstance(value, str) and "\n" in value and not value.startswith(" "):
        chomp = "" if value.endswith("\n") and not value.endswith("\n\n") else "-"
        chomp = "+" if value.endswith("\n\n") else chomp
        body = value[:-1] if value.endswith("\n") else value
        lines = [" " * (indent + 2) + line if line else "" for line in body.split("\n")]
        return [head + sep + "|" + chomp, *lines]
    return [head + sep + _scalar(value)]
