"""Topic rules: who may subscribe, publish or call on which topics.

A rule list is patterns evaluated in order, the last matching one wins (like
.gitignore)::

    demo.* app.* !app.user.* app.user.{authid}.*

``*`` as the last component matches one or more components, elsewhere it
matches exactly one; ``!`` refuses; ``{authid}`` is the session's own authid
and only ever matches for a ticket-authenticated session.  Prefix and
wildcard subscriptions are allowed only when *every* topic they could
receive is allowed (:func:`rules_allow`).
"""
import re


ONE = object()          # a pattern component: exactly one URI component

_RULE_COMPONENT = re.compile(r'^(\*|\{authid\}|[^\s.#*{}!]+)$')


class TopicRule:
    """One parsed pattern such as ``!app.user.*`` or ``app.user.{authid}.*``."""

    def __init__(self, text):
        self.text = text
        pattern = text[1:] if text.startswith('!') else text
        self.allow = not text.startswith('!')
        if not pattern:
            raise ValueError('empty pattern %r' % text)
        components = pattern.split('.')
        for component in components:
            if not _RULE_COMPONENT.match(component):
                raise ValueError('bad pattern %r: component %r (use words, "*" or "{authid}", '
                                 'e.g. app.user.{authid}.*)' % (text, component))
        self.tail = components[-1] == '*'      # matches one or more components
        if self.tail:
            components = components[:-1]
        self.components = components
        self.per_user = '{authid}' in components

    def resolve(self, authid):
        """Components with ``{authid}`` substituted; ``None`` if it cannot apply."""
        resolved = []
        for component in self.components:
            if component == '{authid}':
                if authid is None:
                    return None
                resolved.append(authid)
            elif component == '*':
                resolved.append(ONE)
            else:
                resolved.append(component)
        return resolved

    def __repr__(self):
        return '<TopicRule %s>' % self.text


def parse_rules(value):
    """Parse a space/newline separated rule list into :class:`TopicRule` objects."""
    words = value.split() if isinstance(value, str) else list(value)
    return [TopicRule(word) for word in words]


def parse_grants(value):
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


class _Prefix:
    """A subscription component known only by its start (``app.us`` prefix)."""

    def __init__(self, start):
        self.start = start


def topic_set(uri, match='exact'):
    """The set of topics a subscription receives: ``(components, min_len, max_len)``.

    A component is a string, :data:`ONE` or a :class:`_Prefix`; positions
    beyond ``components`` are unconstrained; ``max_len`` is ``None`` for
    unbounded.
    """
    if match == 'prefix':
        if uri == '':
            return [], 1, None
        parts = uri.split('.')
        if parts[-1] == '':
            return parts[:-1], len(parts), None
        return parts[:-1] + [_Prefix(parts[-1])], len(parts), None
    parts = uri.split('.')
    if match == 'wildcard':
        return [ONE if part == '' else part for part in parts], len(parts), len(parts)
    return parts, len(parts), len(parts)


def _component_overlaps(rule_component, set_component):
    if rule_component is ONE or set_component is ONE:
        return True
    if isinstance(set_component, _Prefix):
        return rule_component.startswith(set_component.start)
    return rule_component == set_component


def _component_covers(rule_component, set_component):
    if rule_component is ONE:
        return True
    return isinstance(set_component, str) and rule_component == set_component


def _lengths(rule_components, tail):
    count = len(rule_components)
    return (count + 1, None) if tail else (count, count)


def _covers(resolved, tail, topics):
    components, low, high = topics
    rule_low, rule_high = _lengths(resolved, tail)
    if low < rule_low or (rule_high is not None and (high is None or high > rule_high)):
        return False
    for position, rule_component in enumerate(resolved):
        set_component = components[position] if position < len(components) else ONE
        if not _component_covers(rule_component, set_component):
            return False
    return True


def _overlaps(resolved, tail, topics):
    components, low, high = topics
    rule_low, rule_high = _lengths(resolved, tail)
    if (rule_high is not None and rule_high < low) or (high is not None and high < rule_low):
        return False
    return all(_component_overlaps(r, s) for r, s in zip(resolved, components))


def rules_allow(rules, uri, match='exact', authid=None):
    """True if ``rules`` allow every topic of the subscription ``uri``/``match``.

    For publish and call, pass the URI with ``match='exact'``.  ``authid``
    is the session's authid when it was authenticated with a ticket, else
    ``None`` (then ``{authid}`` rules never match).  Conservative: when a
    refusing rule overlaps part of the set, the whole request is refused.
    """
    if authid is not None and not re.match(r'^[^\s.#*{}!]+$', authid):
        authid = None   # an authid that is not one URI component never matches
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
