"""Chalice with a warm container's REST API request dispatched directly (issue 13).

For every API Gateway event, ``Chalice.__call__`` builds a new
``RestAPIEventHandler``, a generator over the registered middlewares and a
chain of ``MiddlewareHandler`` objects, then matches the request's and the
response's content types against the route's and the binary media types,
and wraps the response headers in a case-insensitive mapping to do so:
about 45 µs of a ~385 µs ES256 token on the 2-core bench machine, more than
a sixth of what is not the signature.

:class:`Tollgate` answers the one common case itself, with Chalice's own
pieces and in Chalice's order: a route and method that exist, a route that
accepts any content type (every Tollgate route: :data:`ANY_CONTENT_TYPE`),
no Chalice CORS configuration (Tollgate answers CORS itself,
:mod:`chalicelib.oauth.cors`) and no binary media types (``app.py`` sets
none), so Chalice's checks could only pass.  The view is called through
Chalice's ``_get_view_function_response`` (its error mapping and header
validation), inside Chalice's global error handler and the registered
``http`` middlewares, and the response is serialised by Chalice's
``to_dict``.  Any other event (a method the route lacks, no resource path,
a route with content types or CORS) goes to ``Chalice.__call__`` unchanged,
so its 405 and 415 answers are Chalice's own.  ``tests/http/test_dispatch.py``
holds the two paths to the same answers.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from chalice.app import CaseInsensitiveMapping, Request, Response, RestAPIEventHandler, RouteEntry, error_response

from chalicelib.web.adapter import ANY_CONTENT_TYPE


class Tollgate(Chalice):
    """``Chalice``; its REST API requests that Chalice could only pass go straight to the middlewares and view."""

    _direct: tuple[int, Any] | None = None  # (how many middlewares were registered, the http chain) of this container

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        if self._direct_route(event) is None:
            return super().__call__(event, context)
        self.lambda_context = context
        request = Request(event, context)
        self.current_request = request
        response = self._chain()(request)
        # With no binary types, Chalice's base64 step can only act on a Content-Type holding */*; skip it otherwise.
        return response.to_dict(self.api.binary_types if _any_type(response) else None)

    def _direct_route(self, event: Any) -> RouteEntry | None:
        """The route of an event Chalice's checks could only pass; None for anything else."""
        context = event.get("requestContext") if isinstance(event, dict) else None
        if not isinstance(context, dict) or self.api.binary_types:
            return None
        route = self.routes.get(context.get("resourcePath"), {}).get(context.get("httpMethod"))
        if route is None or route.cors is not None or route.content_types != ANY_CONTENT_TYPE:
            return None
        return route

    def _chain(self) -> Any:
        """Chalice's error handler, then the ``http`` middlewares, then the view: built once per container.

        Rebuilt if a middleware is registered later, as Chalice would pick it up.
        The chain keeps no request: each link passes the request on, and the
        view finds its route from it.
        """
        registered = len(self.middleware_handlers)  # Chalice only ever appends to this list
        if self._direct is None or self._direct[0] != registered:
            middlewares = tuple(self._get_middleware_handlers("http"))
            handler = RestAPIEventHandler(self.routes, self.api, self.log, self.debug)

            def view(request: Request) -> Any:
                route = self.routes[request.context["resourcePath"]][request.method]
                arguments = {name: request.to_original_event()["pathParameters"][name] for name in route.view_args}
                response = handler._get_view_function_response(route.view_function, arguments)
                headers = CaseInsensitiveMapping(response.headers) if _any_type(response) else None
                if headers is not None and not handler._validate_binary_response(request.headers, headers):
                    return _binary_refused(headers.get("content-type", ""))
                return response

            chain = handler._build_middleware_handlers([handler._global_error_handler, *middlewares], view)
            self._direct = (registered, chain)
        return self._direct[1]


def _any_type(response: Response) -> bool:
    """Whether the response's Content-Type holds ``*/*``: with no binary types, the one case Chalice's
    binary checks do anything (they then treat the response as binary)."""
    content_type: object = ""
    for name, value in response.headers.items():  # the last of any spelling wins, as in Chalice's mapping
        if name.lower() == "content-type":
            content_type = value
    return "*/*" in str(content_type)


def _binary_refused(content_type: str) -> Response:
    """Chalice's answer to a binary response the request's Accept header did not ask for."""
    return error_response(
        error_code="BadRequest",
        message=(
            f"Request did not specify an Accept header with {content_type}, The response has a Content-Type of "
            f"{content_type}. If a response has a binary Content-Type then the request must specify an Accept "
            "header that matches."
        ),
        http_status_code=400,
    )
