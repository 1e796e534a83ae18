"""A plain-language paragraph explaining a verdict, for journalists and other readers.

Two ways to write it:

* ``template`` (default): a deterministic paragraph built only from the analysis.
* ``ollama`` / ``openai``: a local LLM (Ollama, or any OpenAI-compatible server such
  as llama.cpp or vLLM) writes it from the same structured evidence; its reply is
  fact-checked (:func:`check_reply`) and replaced by the template text when the server
  cannot be reached, fails, or the reply states anything the evidence does not hold.

Only the standard library is used for HTTP; nothing leaves the machine unless the
configured server is remote. The prompt carries the evidence only: no file name, path
or hash.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..log import get_logger
from .narrator_check import check_reply, clean_reply, strip_thinking
from .narrator_facts import summarize_for_narrator
from .narrator_template import template_text

__all__ = ["ENGINES", "build_prompt", "check_reply", "narrate", "strip_thinking", "template_text"]

log = get_logger(__name__)

ENGINES = ("template", "ollama", "openai")
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "llama3.2"
DEFAULT_OPENAI_BASE = "http://127.0.0.1:8080/v1"
DEFAULT_OPENAI_MODEL = "local"

_SYSTEM = """You explain the result of seethrough, a deepfake detector, to journalists and other \
non-specialists. The user gives you the evidence as JSON. Write one plain paragraph of 3 to 6 \
sentences, with no lists, headings, markdown or preamble.

Rules:
- Use only facts from the evidence. Do not add background, advice or speculation.
- State the verdict (real, uncertain or fake) and the probability of manipulation exactly as given.
- Copy every percentage, time and count exactly as written in the evidence. Do not compute, \
round, convert or invent any other number.
- Name only the facial regions listed in top_regions or key_frames, preferably with their \
in_words wording. Left and right are the person's own left and right.
- Mention a manipulation family or method only if the evidence has a method entry, by the name it gives; say that it is only \
a resemblance that applies if the face was manipulated, never proof.
- Mention the caveats; you may quote them word for word.
- If the evidence has a provenance entry, state it first, as given (you may copy it word for word): \
it is what the file's own Content Credentials say, separate from the detector's verdict. Name the \
signer only as given, and never call a signer trusted unless the evidence says so.
- Do not use technical terms such as logit, Grad-CAM or JSON field names."""


def build_prompt(doc: dict) -> list[dict]:
    """Chat messages (system + user) asking for a narrative of ``doc`` from its evidence only."""
    summary, _ = summarize_for_narrator(doc)
    evidence = json.dumps(summary, ensure_ascii=False, separators=(",", ":"))
    user = f"Evidence:\n{evidence}\n\nWrite the paragraph."
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


class _LLMError(Exception):
    """The LLM gave no usable text; ``str()`` says why, in words for the fallback reason."""


def _with_scheme(url: str) -> str:
    url = url.strip()
    return url if "://" in url else "http://" + url


def ollama_base(host: str | None = None) -> str:
    """The Ollama server URL: ``host``, else ``$OLLAMA_HOST``, else http://127.0.0.1:11434.

    Accepts ``127.0.0.1:11434``, ``localhost`` (port 11434 implied) and the server-side
    bind address ``0.0.0.0`` (contacted as 127.0.0.1).
    """
    raw = host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST
    parts = urlsplit(_with_scheme(raw))
    hostname = parts.hostname or "127.0.0.1"
    if hostname in ("0.0.0.0", "::"):
        hostname = "127.0.0.1"
    port = parts.port or (11434 if parts.scheme == "http" else None)
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def openai_base(base: str | None = None) -> str:
    """The OpenAI-compatible base URL: ``base``, else ``$OPENAI_BASE_URL``, else http://127.0.0.1:8080/v1."""
    raw = base or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE
    return _with_scheme(raw).rstrip("/")


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    return urllib.request.build_opener()


def _error_text(body: bytes) -> str:
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        err = None
    if isinstance(err, dict):
        err = err.get("message")
    text = str(err) if err else body.decode("utf-8", "replace")
    return " ".join(text.split())[:200]


def _post(label: str, where: str, url: str, payload: dict, headers: dict, timeout: float) -> Any:
    data = json.dumps(payload).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json", **headers})
    try:
        with _opener(url).open(req, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        detail = _error_text(e.read() or b"")
        raise _LLMError(f"{label} at {where} answered HTTP {e.code}" + (f": {detail}" if detail else "")) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _LLMError(f"{label} at {where} timed out after {timeout:g} s") from None
        text = getattr(reason, "strerror", None) or str(reason)
        raise _LLMError(f"{label} at {where} unreachable: {text}") from None
    except (TimeoutError, socket.timeout):
        raise _LLMError(f"{label} at {where} timed out after {timeout:g} s") from None
    except http.client.HTTPException as e:
        raise _LLMError(f"{label} at {where} sent a malformed reply: {type(e).__name__} {e}".rstrip()) from None
    except ValueError as e:  # bad URL
        raise _LLMError(f"{label} at {where} cannot be used: {e}") from None
    except OSError as e:
        raise _LLMError(f"{label} at {where} unreachable: {e.strerror or e}") from None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        snippet = " ".join(body[:80].decode("utf-8", "replace").split())
        raise _LLMError(f"{label} at {where} sent a malformed reply (not JSON: {snippet!r})") from None


def _content(label: str, where: str, reply: Any, path: tuple) -> str:
    node = reply
    try:
        for key in path:
            node = node[key]
    except (KeyError, IndexError, TypeError):
        if isinstance(reply, dict) and reply.get("error"):
            detail = _error_text(json.dumps(reply).encode())
            raise _LLMError(f"{label} at {where} returned an error: {detail}") from None
        shown = "/".join(str(k) for k in path)
        raise _LLMError(f"{label} at {where} sent a malformed reply (no {shown})") from None
    if node is None:
        node = ""
    if not isinstance(node, str):
        raise _LLMError(f"{label} at {where} sent a malformed reply (content is not text)")
    return node


def _ask_ollama(messages: list[dict], model: str, host: str | None, timeout: float) -> str:
    base = ollama_base(host)
    payload = {"model": model, "messages": messages, "stream": False, "options": {"temperature": 0}}
    reply = _post("ollama", base, base + "/api/chat", payload, {}, timeout)
    return _content("ollama", base, reply, ("message", "content"))


def _ask_openai(messages: list[dict], model: str, host: str | None, timeout: float) -> str:
    base = openai_base(host)
    headers = {}
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    payload = {"model": model, "messages": messages, "temperature": 0}
    reply = _post("openai", base, base + "/chat/completions", payload, headers, timeout)
    return _content("openai", base, reply, ("choices", 0, "message", "content"))


def _parse_engine(engine: str, model: str | None) -> tuple[str, str | None]:
    name, _, suffix = (engine or "").strip().partition(":")
    name = name.lower()
    if name not in ENGINES:
        raise ValueError(f"unknown narrator engine {engine!r}; valid engines: {', '.join(ENGINES)} "
                         "(ollama and openai accept a model as engine:model)")
    if name == "template":
        return name, None
    if model:
        return name, model
    if suffix:
        return name, suffix
    if name == "ollama":
        return name, os.environ.get("SEETHROUGH_OLLAMA_MODEL") or DEFAULT_OLLAMA_MODEL
    return name, os.environ.get("SEETHROUGH_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL


def narrate(doc: dict, engine: str = "template", *, model: str | None = None, host: str | None = None,
            timeout: float = 20.0) -> dict:
    """The narrative for ``doc``: ``{"text", "engine", "requested", "fallback_reason"}``.

    ``engine`` is ``template``, ``ollama`` or ``openai`` (optionally ``ollama:<model>``).
    ``host`` is the Ollama host or the OpenAI-compatible base URL. An LLM's reply is used
    only when it arrives in time and passes the fact check; otherwise the template
    text is returned with ``fallback_reason`` saying why. ``requested`` is the engine
    asked for, with its model (``ollama:llama3.2``). Raises ValueError for an unknown engine.
    """
    name, model_name = _parse_engine(engine, model)
    requested = name if name == "template" else f"{name}:{model_name}"
    text = template_text(doc)
    if name == "template":
        return {"text": text, "engine": "template", "requested": requested, "fallback_reason": None}

    def fallback(reason: str) -> dict:
        log.warning("narrator: using the template instead of %s: %s", requested, reason)
        return {"text": text, "engine": "template", "requested": requested, "fallback_reason": reason}

    status = doc.get("status")
    if status != "ok" or doc.get("verdict") is None:
        return {"text": text, "engine": "template", "requested": requested,
                "fallback_reason": f"no verdict to explain (status {status}), so the template was used "
                                   "without asking the LLM"}
    messages = build_prompt(doc)
    ask = _ask_ollama if name == "ollama" else _ask_openai
    try:
        raw = ask(messages, model_name, host, timeout)
    except _LLMError as e:
        return fallback(str(e))
    reply = clean_reply(raw)
    if not reply:
        return fallback(f"{name} returned an empty reply" + (" (only a thinking block)" if raw.strip() else ""))
    problems = check_reply(reply, doc)
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        return fallback(f"{name} reply failed the fact check: {problems[0]}{more}")
    log.debug("narrator: %s reply passed the fact check", requested)
    return {"text": reply, "engine": requested, "requested": requested, "fallback_reason": None}
