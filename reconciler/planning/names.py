"""Splits a person's display name into the given and family names Workspace requires when
the planner makes a CREATE_ACCOUNT action."""

from __future__ import annotations

import re
import unicodedata

# Split on ASCII and full-width (U+3000, common in Japanese input) whitespace alike.
_SPACES = re.compile(r"[\s\u3000]+")


def _is_east_asian(text: str) -> bool:
    """True when the text contains CJK ideographs, kana or hangul: names written in those
    scripts put the family name first."""
    for ch in text:
        name = unicodedata.name(ch, "")
        if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")):
            return True
    return False


def split_person_name(name: str) -> tuple[str, str]:
    """Return (given_name, family_name).

    The rule, documented for HR: a name written in CJK script is family-name-first
    ("山田 太郎" -> family 山田, given 太郎); a name in Latin script is given-name-first
    ("Taro Yamada" -> given Taro, family Yamada; "Mary Ann Smith" -> given "Mary Ann").
    A single word is used for both, because the Directory API requires both fields to be
    non-empty (users.insert: name.givenName and name.familyName are required).
    """
    parts = [p for p in _SPACES.split(name.strip()) if p]
    if not parts:
        return ("", "")
    if len(parts) == 1:
        return (parts[0], parts[0])
    if _is_east_asian(name):
        return (" ".join(parts[1:]), parts[0])
    return (" ".join(parts[:-1]), parts[-1])
