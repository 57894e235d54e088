"""HTTP plumbing for end-to-end tests: one connection per request.

DESIGN §10: chalice local is very slow with keep-alive, and it closes the
connection after a request that asked for ``Connection: close`` without
saying so in its answer, so a pooled connection can be reused after the
server dropped it.  Dropping the pool after every request avoids both.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter


class OneConnectionPerRequest(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.headers["Connection"] = "close"
        try:
            return super().send(request, *args, **kwargs)
        finally:
            self.close()


def without_keep_alive(session: requests.Session) -> requests.Session:
    adapter = OneConnectionPerRequest()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get(url: str, **kwargs: Any) -> requests.Response:
    with without_keep_alive(requests.Session()) as session:
        return session.get(url, timeout=10, **kwargs)
