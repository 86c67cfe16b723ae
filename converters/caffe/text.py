"""The protobuf text format of a deploy .prototxt, parsed into `Msg` typed by schema.py.

Accepts what protobuf's TextFormat accepts in Caffe files: `#` comments, `name: value` and
`name { ... }` (optional `:` before the brace, `<...>` as braces), repeated keys or `[a, b]`
lists, enums by name or number, single or double quotes, `,`/`;` separators. Fields the schema
does not list are kept untyped (a data layer's source, fillers), so a training prototxt reads too.
See protobuf.dev reference/protobuf/textformat-spec.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from netinspect.converters.caffe.message import Msg
from netinspect.converters.caffe.schema import ENUMS, MESSAGES

MAX_DEPTH = 64
"""Nesting deeper than this is not a Caffe net (its deepest message is 4 levels down)."""

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<word>[A-Za-z0-9_.+\-]+)|(?P<punct>[{}<>:\[\],;])|(?P<bad>.)""",
    re.DOTALL,
)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "0": "\0"}


class TextFormatError(ValueError):
    """The text is not a protobuf text-format message; the message names the line."""


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str, int]] = []  # (kind, text, line)
        line, counted = 1, 0
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind is None:
                continue
            start = m.start()
            line += text.count("\n", counted, start)
            counted = start
            if kind == "bad":
                raise TextFormatError(f"line {line}: unexpected character {m.group()!r}")
            self.items.append((kind, m.group(kind), line))
        self.pos = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            last = self.items[-1][2] if self.items else 1
            raise TextFormatError(f"line {last}: the text ends in the middle of a message")
        self.pos += 1
        return token

    def accept(self, punct: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "punct" and token[1] == punct:
            self.pos += 1
            return True
        return False


def parse(text: str, type_name: str = "NetParameter") -> Msg:
    tokens = _Tokens(text)
    msg = _message(tokens, type_name, None, 0)
    return msg


def _message(tokens: _Tokens, type_name: str | None, close: str | None, depth: int) -> Msg:
    if depth > MAX_DEPTH:
        raise TextFormatError(f"line {tokens.take()[2]}: messages nested more than {MAX_DEPTH} deep")
    schema = _schema(type_name)
    msg = Msg(type_name)
    while True:
        token = tokens.peek()
        if token is None:
            if close is not None:
                tokens.take()
            return msg
        kind, text, line = token
        if kind == "punct" and text == close:
            tokens.take()
            return msg
        if kind != "word" or not _FIELD_NAME.fullmatch(text):
            raise TextFormatError(f"line {line}: expected a field name, found {text!r}")
        tokens.take()
        field_kind = schema.get(text)
        has_colon = tokens.accept(":")
        nested = tokens.peek()
        if nested is not None and nested[0] == "punct" and nested[1] in "{<":
            tokens.take()
            sub_type = field_kind[4:] if field_kind and field_kind.startswith("msg:") else None
            if field_kind is not None and sub_type is None:
                raise TextFormatError(f"line {line}: {text} is a value, not a message")
            msg.add(text, _message(tokens, sub_type, "}" if nested[1] == "{" else ">", depth + 1))
        else:
            if not has_colon:
                raise TextFormatError(f"line {line}: expected ':' after {text}")
            if field_kind is not None and field_kind.startswith("msg:"):
                raise TextFormatError(f"line {line}: {text} is a message, not a value")
            for value in _values(tokens):
                msg.add(text, _typed(value, field_kind, text))
        tokens.accept(",") or tokens.accept(";")


@functools.cache
def _schema(type_name: str | None) -> dict[str, str]:
    """Field name → kind for a message type (empty for an untyped one)."""
    return {name: kind for name, kind in MESSAGES.get(type_name or "", {}).values()}


def _values(tokens: _Tokens) -> list[tuple[str, str, int]]:
    if not tokens.accept("["):
        return [_scalar(tokens)]
    values: list[tuple[str, str, int]] = []
    if tokens.accept("]"):
        return values
    while True:
        values.append(_scalar(tokens))
        if tokens.accept("]"):
            return values
        if not tokens.accept(","):
            raise TextFormatError(f"line {tokens.take()[2]}: expected ',' or ']' in a list")


def _scalar(tokens: _Tokens) -> tuple[str, str, int]:
    kind, text, line = tokens.take()
    if kind == "punct":
        raise TextFormatError(f"line {line}: expected a value, found {text!r}")
    if kind == "str":  # adjacent strings concatenate
        while (nxt := tokens.peek()) is not None and nxt[0] == "str":
            tokens.take()
            text = text[:-1] + nxt[1][1:]
    return kind, text, line


def _typed(token: tuple[str, str, int], field_kind: str | None, name: str) -> Any:
    kind, text, line = token
    if kind == "str":
        value = _unquote(text[1:-1])
        if field_kind in (None, "string"):
            return value
        raise TextFormatError(f"line {line}: {name} takes a {field_kind}, not the string {text}")
    if field_kind is None:
        return _untyped(text)
    try:
        if field_kind == "string":
            raise TextFormatError(f"line {line}: {name} takes a quoted string, not {text}")
        if field_kind in ("int32", "int64", "uint32"):
            value = int(text, 0)
            if field_kind == "uint32" and value < 0:
                raise TextFormatError(f"line {line}: {name} cannot be negative ({text})")
            return value
        if field_kind in ("float", "double"):
            return _float(text)
        if field_kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "t", "1"):
                return True
            if lowered in ("false", "f", "0"):
                return False
            raise TextFormatError(f"line {line}: {name} takes true or false, not {text}")
        if field_kind.startswith("enum:"):
            names = ENUMS[field_kind[5:]]
            if text in names.values():
                return text
            number = int(text, 0)
            if number in names:
                return names[number]
            raise TextFormatError(f"line {line}: {name} has no value {text}")
    except ValueError as e:
        if isinstance(e, TextFormatError):
            raise
        raise TextFormatError(f"line {line}: {name} takes a {field_kind.split(':')[-1]}, not {text}") from e
    raise TextFormatError(f"line {line}: {name}: unknown kind {field_kind}")  # pragma: no cover


def _float(text: str) -> float:
    lowered = text.lower().rstrip("f") if not text.lower().startswith(("inf", "-inf")) else text.lower()
    if lowered in ("inf", "infinity", "-inf", "-infinity", "nan", "-nan"):
        return float(lowered)
    return float(lowered)


def _untyped(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _unquote(body: str) -> str:
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                digits = re.match(r"[0-7]{1,3}", body[i + 1 :]).group(0)  # type: ignore[union-attr]
                out.append(chr(int(digits, 8)))
                i += 1 + len(digits)
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)
