"""The leaf: JWS signing and verification, opaque values, the one storage hash, access-token formats.

It imports nothing else of Tollgate's (an import-linter contract checks it),
as fosite's ``token/jwt`` and ``token/hmac``.
"""
