"""Calling a platform and classifying how it went: sent, retryable or permanent.

Network failures, timeouts, 5xx and 429 are retryable; so are the Graph error codes Meta marks as
throttling or transient. Everything else (bad token, 131047 outside the 24-hour window, a blocked
user) is permanent: retrying cannot help, so the code and message are kept for the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from personae.channels.webhook import obj
from personae.contracts import AccountCheck, MediaFile
from personae.types import SendResult

# Graph codes worth retrying, with a default wait where the reply gives none: app/page/WABA
# call limits, Cloud API throughput, the per-recipient pair rate, maintenance, transient errors.
GRAPH_RETRY_AFTER: Mapping[int, float | None] = {
    1: None, 2: None, 4: 60.0, 17: 60.0, 32: 60.0, 613: 60.0, 80007: 60.0,
    130429: 5.0, 131000: None, 131016: None, 131056: 6.0, 131057: 60.0,
}  # fmt: skip


# Failures after which the platform may have taken the call: the request went out and the
# answer was lost. A connection never made ("connect") sent nothing.
UNKNOWN_OUTCOME = frozenset({"timeout", "network"})


def network_failure(err: httpx.HTTPError) -> SendResult:
    if isinstance(err, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        kind = "connect"
    elif isinstance(err, httpx.TimeoutException):
        kind = "timeout"
    else:
        kind = "network"
    return SendResult("retryable", code=kind, error=f"{type(err).__name__}: {err}")


def retry_after_header(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None


def graph_outcome(response: httpx.Response) -> tuple[SendResult, dict[str, Any]]:
    """Classify a Graph API reply; a 2xx comes back as ``sent`` with its JSON for the caller."""
    data = _json(response)
    if response.is_success:
        return SendResult("sent"), data
    error = obj(data, "error")
    code = error.get("code")
    message = str(error.get("message") or response.text[:200] or response.reason_phrase)
    if error.get("error_subcode"):
        message += f" (subcode {error['error_subcode']})"
    details = obj(error, "error_data").get("details")
    if details:
        message += f": {details}"
    label = str(code) if code is not None else f"http {response.status_code}"
    transient = response.status_code == 429 or response.status_code >= 500
    if transient or code in GRAPH_RETRY_AFTER or error.get("is_transient") is True:
        wait = retry_after_header(response.headers)
        if wait is None and isinstance(code, int):
            wait = GRAPH_RETRY_AFTER.get(code)
        return SendResult("retryable", retry_after=wait, code=label, error=message), data
    return SendResult("permanent", code=label, error=message), data


def telegram_outcome(response: httpx.Response) -> tuple[SendResult, Any]:
    """Classify a Bot API reply: ``{"ok": true, "result"}`` or ``{"ok": false, "error_code",
    "description", "parameters": {"retry_after"}}``."""
    data = _json(response)
    if response.is_success and data.get("ok") is True:
        return SendResult("sent"), data.get("result")
    code = data.get("error_code", response.status_code)
    message = str(data.get("description") or response.reason_phrase)
    parameters = obj(data, "parameters")
    wait = parameters.get("retry_after")
    if response.status_code == 429 or response.status_code >= 500 or wait is not None:
        if not isinstance(wait, int | float):
            wait = retry_after_header(response.headers)
        return SendResult("retryable", retry_after=wait, code=str(code), error=message), None
    return SendResult("permanent", code=str(code), error=message), None


async def check_account(
    http: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    outcome: Callable[[httpx.Response], tuple[SendResult, Any]],
    fields: Mapping[str, str],
) -> AccountCheck:
    """GET ``url`` and classify the reply; ``fields`` maps the reply's keys to the ones shown."""
    try:
        response = await http.get(url, headers=dict(headers))
    except httpx.HTTPError as err:
        failure = network_failure(err)
        return AccountCheck("retryable", code=failure.code, error=failure.error)
    result, data = outcome(response)
    if result.outcome != "sent":
        if result.outcome == "retryable":
            return AccountCheck("retryable", code=result.code, error=result.error)
        return AccountCheck("permanent", code=result.code, error=result.error)
    data = data if isinstance(data, dict) else {}
    account = {shown: str(data[key]) for key, shown in fields.items() if key in data}
    return AccountCheck("ok", account)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def base_type(mime: str | None) -> str:
    return (mime or "").split(";")[0].strip().lower()


async def download(
    http: httpx.AsyncClient,
    url: str,
    limits: Mapping[str, int],
    announced_mime: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> MediaFile:
    """GET ``url``, refusing a type ``limits`` lacks or a body over its limit (checked while
    streaming, so an oversized file is never held whole)."""
    try:
        async with http.stream("GET", url, headers=dict(headers or {})) as response:
            if not response.is_success:
                # 404: the 5-minute URL expired; fetching a fresh one may work.
                status = response.status_code
                again = status in (404, 429) or status >= 500
                return MediaFile(
                    "retryable" if again else "permanent", error=f"download answered HTTP {status}"
                )
            mime = base_type(response.headers.get("content-type")) or base_type(announced_mime)
            limit = limits.get(mime)
            if limit is None:
                return MediaFile(
                    "refused", mime_type=mime, error=f"type {mime or 'unknown'} is not accepted"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    return MediaFile("refused", mime_type=mime, error=f"file is over {limit} bytes")
                chunks.append(chunk)
            return MediaFile("ok", data=b"".join(chunks), mime_type=mime)
    except httpx.HTTPError as err:
        return MediaFile("retryable", error=network_failure(err).error)


def refuse_early(limits: Mapping[str, int], mime: str | None, size: int | None) -> MediaFile | None:
    """Refuse from what the platform announced, before downloading anything."""
    kind = base_type(mime)
    if mime is not None and kind not in limits:
        return MediaFile("refused", mime_type=kind, error=f"type {kind} is not accepted")
    limit = limits.get(kind)
    if size is not None and limit is not None and size > limit:
        return MediaFile("refused", mime_type=kind, error=f"file is {size} bytes, over {limit}")
    return None
