"""The protocol core: OAuth 2.0 and OpenID Connect without a framework or an AWS SDK.

It reads a framework-free ``Request`` (``http.py``, ``request.py``) and
answers a ``Response`` or ``Page``; what it remembers are the models of
``models/`` over the small ports of ``ports.py`` (adapters in
``chalicelib.storage`` and ``chalicelib.keys``, wired by
``chalicelib.services``).  Where things go:

- an endpoint: ``endpoints/`` plus its path in ``paths.py`` and a blueprint in ``chalicelib.web.routes``;
- a grant type: ``grants/`` plus one line in ``grants/__init__.py``;
- a client authentication method (e.g. ``private_key_jwt``): ``client_auth.py`` and ``client_metadata.py``;
- something the server remembers (e.g. a pushed authorization request, a DPoP nonce): a model in ``models/``;
- an access-token format or binding: ``chalicelib.tokens.formats`` and ``access_tokens.py``;
- an error: ``errors.py``; an outcome logs and metrics report: ``events.py``.
"""
