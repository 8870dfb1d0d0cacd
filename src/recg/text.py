"""Item text: the fields an item's description is built from and the template that joins them."""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

# The authors' template (LLM-RecG code); placeholders are filled from ItemFields.
DEFAULT_TEMPLATE = (
    "Please summarize the following item based on the provided information: "
    "title: {title}.\n Feature: {features}.\n Description: {description}"
)
PLACEHOLDERS = ("title", "features", "description", "brand", "categories")
MISSING = {
    "title": "no title provided",
    "features": "no feature provided",
    "description": "no description provided",
    "brand": "no brand provided",
    "categories": "no category provided",
}

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
# Clean-up is local (a tag spans at most 202 characters): a raw prefix whose clean text is this
# much longer than the cut cleans to the same first characters as the whole text.
_MARGIN = 256


@dataclass(frozen=True)
class ItemFields:
    title: str = ""
    features: str = ""
    description: str = ""
    brand: str = ""
    categories: str = ""

    def has_text(self) -> bool:
        """An item is usable only if it has a title, features or a description."""
        return bool(self.title or self.features or self.description)


def clean(value: object, max_chars: int) -> str:
    """Flatten str/list/nested-list metadata to one tidy line (HTML unescaped, tags removed).

    Only as much of a long text is cleaned as the cut needs, so a megabyte of HTML costs no more
    than a page.
    """
    text = " ".join(_flatten(value))
    size = 4 * max_chars + _MARGIN
    while True:
        tidy = _tidy(text[:size])
        if size >= len(text) or len(tidy) >= max_chars + _MARGIN:
            return tidy[:max_chars].rstrip()
        size *= 4


def _tidy(text: str) -> str:
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return _SPACE.sub(" ", text).strip()


def _flatten(value: object) -> Iterable[str]:
    if value is None:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for part in value:
            yield from _flatten(part)
    elif isinstance(value, int | float):
        yield str(value)


def template_placeholders(template: str) -> list[str]:
    """Placeholder names used by a template (raises ValueError on a malformed template)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def render(fields: ItemFields, template: str) -> str:
    values = {name: getattr(fields, name) or MISSING[name] for name in PLACEHOLDERS}
    return template.format_map(values)
