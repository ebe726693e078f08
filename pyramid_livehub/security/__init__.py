"""Live-topic security: signed tickets for logged-in users and topic rules.

* :mod:`pyramid_livehub.security.tickets`: issue and verify tickets (pure).
* :mod:`pyramid_livehub.security.rules`: topic rules and their matching (pure).
* :mod:`pyramid_livehub.security.settings`: the ``livehub.auth*`` settings.
* :mod:`pyramid_livehub.security.views`: the ticket view in the Pyramid app.

The router side (the authenticator and authorizer components) lives in
:mod:`pyramid_livehub.router.auth`.
"""
from pyramid_livehub.security.rules import TopicRule, parse_grants, parse_rules, rules_allow
from pyramid_livehub.security.tickets import (MIN_SECRET_LENGTH, TicketClaims, TicketError,
                                              issue_ticket, verify_ticket)

__all__ = ['MIN_SECRET_LENGTH', 'TicketClaims', 'TicketError', 'TopicRule', 'issue_ticket',
           'parse_grants', 'parse_rules', 'rules_allow', 'verify_ticket']
