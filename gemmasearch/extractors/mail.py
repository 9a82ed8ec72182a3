"""E-mail: one ``.eml`` message, or an mbox of many; each message is a section
(``#msg=N``) headed by its subject, sender and date, with its plain-text body (or its HTML
body converted). Attachments are skipped."""

from __future__ import annotations

import email
import email.policy
import re
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from pathlib import Path

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError
from gemmasearch.extract import decode_text
from gemmasearch.extractors.guards import TextBudget, capped
from gemmasearch.extractors.web import html_blocks

MAX_MESSAGES = 20_000
MAX_PARTS = 200
# An mbox message starts at a "From " line at the top of the file or after a blank line.
_MBOX_START = re.compile(rb"(?:\A|\n\r?\n)(From [^\n]*\n)")


def _header(message: Message, name: str) -> str:
    """A header with its RFC 2047 words decoded (``=?utf-8?q?Caf=C3=A9?=`` is "Café").
    Decoded here rather than by ``email.policy.default``, which is ten times slower."""
    raw = message.get(name)
    if raw is None:
        return ""
    parts = []
    try:
        pieces = decode_header(str(raw))
    except (HeaderParseError, ValueError):
        pieces = [(str(raw), None)]
    for value, charset in pieces:
        if isinstance(value, str):
            parts.append(value)
            continue
        try:
            parts.append(value.decode(charset or "ascii"))
        except (LookupError, UnicodeDecodeError):  # unknown charset or raw 8-bit bytes
            parts.append(decode_text(value))
    return " ".join("".join(parts).split())


def _decode_part(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or ""
    try:
        return payload.decode(charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):  # unknown or wrong charset: guess
        return decode_text(payload)


def _body(message: Message) -> str:
    plain, html = [], []
    for number, part in enumerate(message.walk()):
        if number >= MAX_PARTS:
            break
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(_decode_part(part))
        elif content_type == "text/html":
            html.append(_decode_part(part))
    if any(p.strip() for p in plain):
        return "\n\n".join(plain)
    texts: list[str] = []
    for markup in html:
        _, blocks = html_blocks(markup)
        texts.extend(text for _, text in blocks)
    return "\n\n".join(texts)


def _message_text(raw: bytes) -> tuple[str, str]:
    """(subject, section text) of one message."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = _header(message, "Subject")
    lines = [f"# {subject or '(no subject)'}"]
    for name in ("From", "To", "Date"):
        value = _header(message, name)
        if value:
            lines.append(f"{name}: {value}")
    body = _body(message).replace("\r\n", "\n").strip()
    return subject, capped("\n".join(lines) + ("\n\n" + body if body else ""))


def split_mbox(data: bytes) -> list[bytes]:
    starts = [m.start(1) for m in _MBOX_START.finditer(data)]
    if len(starts) > MAX_MESSAGES:
        raise ExtractionError(f"mailbox has over {MAX_MESSAGES:,} messages",
                              hint="split it into smaller mbox files to index it")
    messages = []
    for start, end in zip(starts, [*starts[1:], len(data)], strict=True):
        block = data[start:end]
        messages.append(block[block.find(b"\n") + 1:])  # the "From " separator line
    return messages


def read_email(path: Path, data: bytes) -> Document:
    is_mbox = path.suffix.lower() == ".mbox" or data.startswith(b"From ")
    raws = split_mbox(data) if is_mbox else [data]
    if not raws:
        raise ExtractionError("mailbox has no messages")
    budget = TextBudget()
    segments = []
    first_subject = ""
    for number, raw in enumerate(raws, start=1):
        subject, text = _message_text(raw)
        first_subject = first_subject or subject
        segments.append(Segment(text=budget.take(text), page=number))
        if budget.exhausted:
            break
    single = path.suffix.lower() == ".eml" and len(segments) == 1
    title = (first_subject if single else "") or path.name
    return Document(path=path, kind="email", title=title, segments=segments)
