"""CloudWatch metrics as Embedded Metric Format documents on stdout (no API call).

Shared by the middleware (``chalicelib.web.observability``) and the few
places that see what a response cannot show, such as a throttled KMS.

Inside ``one_document()`` (each invocation, opened by the middleware) counts
are aggregated and written as ONE EMF document when the invocation ends;
outside it, each count is written at once.  The document is built here
rather than with Powertools ``single_metric``: one ``json.dumps`` of a small
dict instead of a Powertools context (and its validation) per value, which
cost more than the protocol work of a token request (issue 13).  The format
is what ``single_metric`` wrote: namespace, ``Stage`` plus the metric's own
dimensions, unit ``Count``, values as a list.
"""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from typing import Any

from chalicelib.config import container_setting
from chalicelib.tokens import json_text

NAMESPACE = "Tollgate"

Count = tuple[str, dict[str, str]]  # metric name, its dimensions (without Stage)
_pending: ContextVar[list[Count] | None] = ContextVar("tollgate_metrics", default=None)


def emit_metric(name: str, **dimensions: str) -> None:
    """One count, with the stage and ``dimensions``: kept for the invocation's document, or written now."""
    pending = _pending.get()
    if pending is None:
        _write([(name, dimensions)])
    else:
        pending.append((name, dimensions))


class one_document:
    """Aggregate the counts emitted inside; write them as one EMF document on the way out.

    A class, not ``@contextmanager``: a generator-based context costs a
    request a few microseconds more, on every request (issue 13).
    """

    __slots__ = ("_pending", "_token")

    def __enter__(self) -> None:
        self._pending: list[Count] = []
        self._token = _pending.set(self._pending)

    def __exit__(self, *exc_info: object) -> None:
        _pending.reset(self._token)
        if self._pending:
            _write(self._pending)


def _write(counts: list[Count]) -> None:
    namespace = container_setting("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    stage = container_setting("STAGE", "local")
    timestamp = int(time.time() * 1000)
    for head, tail in _texts(namespace, stage, counts):
        sys.stdout.write(f"{head}{timestamp}{tail}\n")


# The documents' text either side of the timestamp, per namespace, stage and counts: a container writes the
# same few sets of counts again and again (a token issued, a failure of each kind), so each is built and
# serialised once rather than on every request (issue 13).  Bounded: dimension values are the server's own
# names (grant types, RFC error codes), but a bound keeps a mistake from growing memory.
_TEXTS: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
MAX_TEXTS = 256
_NO_TIME = -1  # the timestamp written into a cached text, where each document's own goes


def _texts(namespace: str, stage: str, counts: list[Count]) -> list[tuple[str, str]]:
    key = (namespace, stage, *((name, *dimensions.items()) for name, dimensions in counts))
    texts = _TEXTS.get(key)
    if texts is None:
        if len(_TEXTS) >= MAX_TEXTS:
            _TEXTS.clear()
        documents = _documents(namespace, stage, counts)
        texts = _TEXTS[key] = [_split(json_text.compact(document)) for document in documents]
    return texts


def _split(text: str) -> tuple[str, str]:
    head, _, tail = text.partition(f'"Timestamp":{_NO_TIME}')  # "_aws" comes first: the first is the one
    return head + '"Timestamp":', tail


def _documents(namespace: str, stage: str, counts: list[Count]) -> list[dict[str, Any]]:
    """As few documents as EMF allows (one, unless two counts give one dimension two values), timed ``_NO_TIME``."""
    documents: list[dict[str, Any]] = []
    for name, dimensions in counts:
        values = {"Stage": stage, **dimensions}
        document = next((doc for doc in documents if _fits(doc, name, values)), None)
        if document is None:
            document = {"_aws": {"Timestamp": _NO_TIME, "CloudWatchMetrics": []}}
            documents.append(document)
        _add(document, namespace, name, values)
    return documents


def _fits(document: dict[str, Any], name: str, values: dict[str, str]) -> bool:
    """Whether ``name`` with ``values`` can join: no dimension with another value, no metric under other ones."""
    if any(key in document and document[key] != value for key, value in values.items()):
        return False
    directives = document["_aws"]["CloudWatchMetrics"]
    if name in document:  # the same count again: only under the same dimension set
        return any(
            directive["Dimensions"] == [list(values)] and {"Name": name, "Unit": "Count"} in directive["Metrics"]
            for directive in directives
        )
    return True


def _add(document: dict[str, Any], namespace: str, name: str, values: dict[str, str]) -> None:
    if name in document:
        document[name].append(1.0)
        return
    directives = document["_aws"]["CloudWatchMetrics"]
    keys = [list(values)]
    directive = next((d for d in directives if d["Dimensions"] == keys), None)
    if directive is None:
        directive = {"Namespace": namespace, "Dimensions": keys, "Metrics": []}
        directives.append(directive)
    directive["Metrics"].append({"Name": name, "Unit": "Count"})
    document.update(values)
    document[name] = [1.0]
