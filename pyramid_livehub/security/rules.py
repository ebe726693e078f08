"""Topic rules: who may subscribe, publish or call on which topics.

A rule list is patterns evaluated in order, the last matching one wins (like
.gitignore)::

    demo.** app.** !app.user.** app.user.{authid}.**

Patterns are those of :mod:`pyramid_livehub.patterns`: ``*`` is exactly one
component, ``**`` (last) one or more, ``{authid}`` is the session's own
authid and only ever matches for a ticket-authenticated session; ``!``
refuses.  A trailing ``*`` (which used to mean one or more) is refused with
the new spelling.  Prefix and wildcard subscriptions are allowed only when
*every* topic they could receive is allowed (:func:`rules_allow`).
"""
import enum
from typing import Any, Final, Iterable, Union

from pyramid_livehub.patterns import AUTHID
from pyramid_livehub.patterns import ONE as PATTERN_ONE
from pyramid_livehub.patterns import parse_rule_pattern


class _Wildcard(enum.Enum):
    ONE = '*'


#: A subscription/rule component: exactly one URI component, any value.
ONE: Final = _Wildcard.ONE


class _Prefix:
    """A subscription component known only by its start (``app.us`` prefix)."""

    def __init__(self, start: str) -> None:
        self.start = start


_RuleComponent = Union[str, _Wildcard]
_SetComponent = Union[str, _Wildcard, _Prefix]
#: ``(components, min_len, max_len)``; ``max_len`` None is unbounded.
_TopicSet = tuple[list[_SetComponent], int, Union[int, None]]


class TopicRule:
    """One parsed rule such as ``!app.user.**`` or ``app.user.{authid}.**``."""

    def __init__(self, text: str, setting: str | None = None) -> None:
        self.text = text
        self.allow = not text.startswith('!')
        self.pattern = parse_rule_pattern(text if self.allow else text[1:], setting=setting)
        self.tail = self.pattern.rest          # matches one or more further components
        self.components = list(self.pattern.components)
        self.per_user = AUTHID in self.components

    def resolve(self, authid: str | None) -> list[_RuleComponent] | None:
        """Components with ``{authid}`` substituted; ``None`` if it cannot apply."""
        resolved = self.pattern.resolve(authid)
        if resolved is None:
            return None
        return [ONE if component == PATTERN_ONE else component for component in resolved]

    def __repr__(self) -> str:
        return '<TopicRule %s>' % self.text


def parse_rules(value: str | Iterable[str], setting: str | None = None) -> list[TopicRule]:
    """Parse a space/newline separated rule list into :class:`TopicRule` objects."""
    words = value.split() if isinstance(value, str) else list(value)
    return [TopicRule(word, setting=setting) for word in words]


def parse_grants(value: Any) -> list[TopicRule]:
    """Rules for a ticket's grants: allowing patterns only; anything else is dropped."""
    rules = []
    for word in value if isinstance(value, list) else []:
        try:
            rule = TopicRule(str(word))
        except ValueError:
            continue
        if rule.allow:
            rules.append(rule)
    return rules


def topic_set(uri: str, match: str = 'exact') -> _TopicSet:
    """The set of topics a subscription receives: ``(components, min_len, max_len)``.

    A component is a string, :data:`ONE` or a :class:`_Prefix`; positions
    beyond ``components`` are unconstrained; ``max_len`` is ``None`` for
    unbounded.
    """
    if match == 'prefix':
        if uri == '':
            return [], 1, None
        parts = uri.split('.')
        known: list[_SetComponent] = list(parts[:-1])
        if parts[-1] == '':
            return known, len(parts), None
        return known + [_Prefix(parts[-1])], len(parts), None
    parts = uri.split('.')
    if match == 'wildcard':
        return [ONE if part == '' else part for part in parts], len(parts), len(parts)
    exact: list[_SetComponent] = list(parts)
    return exact, len(parts), len(parts)


def _component_overlaps(rule_component: _RuleComponent,
                        set_component: _SetComponent) -> bool:
    if rule_component is ONE or set_component is ONE:
        return True
    if isinstance(set_component, _Prefix):
        return rule_component.startswith(set_component.start)
    return rule_component == set_component


def _component_covers(rule_component: _RuleComponent, set_component: _SetComponent) -> bool:
    if rule_component is ONE:
        return True
    return isinstance(set_component, str) and rule_component == set_component


def _lengths(rule_components: list[_RuleComponent], tail: bool) -> tuple[int, int | None]:
    count = len(rule_components)
    return (count + 1, None) if tail else (count, count)


def _covers(resolved: list[_RuleComponent], tail: bool, topics: _TopicSet) -> bool:
    components, low, high = topics
    rule_low, rule_high = _lengths(resolved, tail)
    if low < rule_low or (rule_high is not None and (high is None or high > rule_high)):
        return False
    for position, rule_component in enumerate(resolved):
        set_component = components[position] if position < len(components) else ONE
        if not _component_covers(rule_component, set_component):
            return False
    return True


def _overlaps(resolved: list[_RuleComponent], tail: bool, topics: _TopicSet) -> bool:
    components, low, high = topics
    rule_low, rule_high = _lengths(resolved, tail)
    if (rule_high is not None and rule_high < low) or (high is not None and high < rule_low):
        return False
    return all(_component_overlaps(r, s) for r, s in zip(resolved, components))


def rules_allow(rules: Iterable[TopicRule], uri: str, match: str = 'exact',
                authid: str | None = None) -> bool:
    """True if ``rules`` allow every topic of the subscription ``uri``/``match``.

    For publish and call, pass the URI with ``match='exact'``.  ``authid``
    is the session's authid when it was authenticated with a ticket, else
    ``None`` (then ``{authid}`` rules never match).  Conservative: when a
    refusing rule overlaps part of the set, the whole request is refused.
    """
    topics = topic_set(uri, match)
    allowed = False
    for rule in rules:
        resolved = rule.resolve(authid)
        if resolved is None:
            continue
        if _covers(resolved, rule.tail, topics):
            allowed = rule.allow
        elif not rule.allow and _overlaps(resolved, rule.tail, topics):
            allowed = False
    return allowed
