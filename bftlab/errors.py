"""The three kinds of error (see STYLE.md).

A peer's misbehaviour is never an exception: protocols drop, count and trace it.
A user's misuse raises :class:`ConfigError` (bad spec) or :class:`UsageError`
(bad command line). A broken internal invariant raises :class:`InvariantError`,
and the runner reports the run's seed so it can be replayed.
"""


class BftlabError(Exception):
    """Base of every error bftlab raises on purpose."""


class ConfigError(BftlabError):
    """A spec or parameter is invalid; the message names where and what was expected."""


class UsageError(BftlabError):
    """The command line or an API was used wrongly."""


class InvariantError(BftlabError):
    """Something that must never happen happened; always a bug in bftlab."""
