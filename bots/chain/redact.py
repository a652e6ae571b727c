"""URLs fit for logs and error messages: node and feed URLs often carry API keys.

One convention everywhere (logs, RPC errors, price-feed names), so an operator sees the same
host and path in each, and never the credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_MASK = "***"


def redact_url(url: str) -> str:
    """`url` fit for messages: userinfo and query string (where providers put API keys) masked.

    Scheme, host, port and path stay, so an operator can
    tell which node is meant. A URL that cannot be parsed is masked whole.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return _MASK
    if not parts.scheme or not host:
        return _MASK
    host = f"[{host}]" if ":" in host else host
    netloc = f"{_MASK}@" if "@" in parts.netloc else ""
    netloc += host if port is None else f"{host}:{port}"
    query = f"?{_MASK}" if parts.query else ""
    fragment = f"#{_MASK}" if parts.fragment else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}{fragment}"
