"""YAML text of the manifests otcmm generates, written by PyYAML's safe dumper.

Generated manifests are committed and compared byte for byte (`otcmm k8s render --check`), so
the dump is deterministic: keys in insertion order, block style, no line folding, and multi-line
strings (a bot's TOML file in its ConfigMap) as literal blocks a reviewer can read. PyYAML is
pinned to one minor version in `pyproject.toml` so its output cannot drift under the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class _ManifestDumper(yaml.SafeDumper):
    """The safe dumper, with literal blocks for multi-line strings, list items indented under
    their key (as `kubectl` writes them) and no anchors for objects that appear twice."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _str)


def dump_documents(docs: Sequence[object]) -> str:
    """The documents (mappings, or a list for a JSON patch) as one YAML stream, separated by
    `---` lines."""
    text: str = yaml.dump_all(
        docs,
        Dumper=_ManifestDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )
    return text
