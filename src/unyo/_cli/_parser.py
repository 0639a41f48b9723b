"""The CLI's argparse, speaking the user's language: argparse builds its messages from msgids
passed through `gettext` ("invalid choice: %(value)r (choose from %(choices)s)"); `install()`
points argparse's lookups at the catalogue's `argparse.*` ids, so with UNYO_LANG=ja usage errors,
"invalid choice", "the following arguments are required" and the `error:` label are Japanese.
`Parser` adds a "did you mean" to an invalid choice. Only argparse and `_types` are imported,
so `unyo --help` stays instant."""

from __future__ import annotations

import argparse
from typing import Any

from unyo._types._lang import lang
from unyo._types._messages import CATALOGUE, Message

_BY_MSGID = {t.en: id for id, t in CATALOGUE.items() if id.startswith("argparse.")}


def gettext(text: str) -> str:
    """argparse's msgid `text`, in Japanese when UNYO_LANG=ja and the catalogue has it."""
    if lang() == "ja" and text in _BY_MSGID:
        return CATALOGUE[_BY_MSGID[text]].ja
    return text


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def install() -> None:
    """Route argparse's message lookups through the catalogue (idempotent; English stays argparse's own)."""
    argparse._ = gettext  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def text(id: str) -> str:
    """An `argparse.*` template in the current language, to fill with `%` as argparse does."""
    return Message(id).render()


class Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" on an invalid choice (`unyo aks` -> 'ask')."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        from unyo._types._errors import did_you_mean

        choices = ", ".join(map(repr, action.choices))
        message = gettext("invalid choice: %(value)r (choose from %(choices)s)") % {"value": value, "choices": choices}
        raise argparse.ArgumentError(action, message + str(did_you_mean(str(value), action.choices)))
