"""The reply as the checks read it: thinking blocks, markdown and odd typography removed."""

from __future__ import annotations

import re


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` blocks (and an unclosed one) that some local models emit."""
    text = re.sub(r"<think>.*?</think>", " ", text or "", flags=re.S | re.I)
    if re.search(r"</think>", text, re.I):  # opening tag was part of the prompt template
        text = re.split(r"</think>", text, flags=re.I)[-1]
    text = re.split(r"<think>", text, flags=re.I)[0]
    return text.strip()


def clean_reply(text: str) -> str:
    """The reply as it will be shown: no thinking, no markdown emphasis, no wrapping quotes."""
    text = strip_thinking(text)
    text = re.sub(r"\*\*|__", "", text).strip()
    # a preamble line such as "Here is the paragraph:"
    text = re.sub(r"^(?:here(?:'s| is)|sure)[^\n]{0,80}:\s*\n+", "", text, flags=re.I).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def normalise(text: str) -> str:
    """Curly quotes, special spaces and dashes as their plain ASCII forms."""
    for a, b in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u00a0", " "),
                 ("\u2009", " "), ("\u202f", " "), ("\u2212", "-"), ("\u2011", "-"), ("\u2010", "-")):
        text = text.replace(a, b)
    return text
