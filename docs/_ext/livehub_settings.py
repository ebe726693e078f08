"""Sphinx extension: the ``livehub.*`` settings reference, built from the code.

``.. livehub-settings::`` renders every row that
:func:`pyramid_livehub.settings.all_settings` returns, one section per concern
(core, bridges, security, live models, consumers and producers), each a
Setting / Default / Description table.  The table in the code is the only
place a key, its default and its description are written, so the reference
cannot drift from it.

Every key is also a cross-reference target: ``:setting:`livehub.realm```
links to its row from any page.
"""
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.roles import XRefRole
from sphinx.util.docutils import SphinxDirective

#: (group, title, what the group covers); rendered in this order.
GROUPS = [
    ('core', 'Core: router, publisher, views',
     'Where the router is, how the publisher of each web process behaves, and the '
     'views under the route prefix.'),
    ('bridges', 'Bridges',
     'Read by ``livehub router`` for the broker bridges; see the bridges page.'),
    ('security', 'Security',
     'Ticket auth and topic rules; the app and the router read the same keys.'),
    ('models', 'Live models', 'SQLAlchemy changes as events.'),
    ('plugins', 'Consumers and producers',
     'Your code inside the router; read by ``livehub router`` and ``livehub list``.'),
]

_BRIDGE_WORDS = ('bridge', 'amqp', 'mqtt', 'zmq', 'stomp')
_SECURITY_NAMES = {'auth', 'publish_anonymous', 'publish_user', 'allowed_origins',
                   'max_message_size', 'max_subscriptions'}
_SECURITY_PREFIXES = ('ticket_', 'subscribe_', 'call_')
_PLUGIN_NAMES = {'consumers', 'producers'}
_PLUGIN_PREFIXES = ('plugin_', 'consumer_', 'producer_')


def group_of(name):
    """The group of a setting, from its short name (``amqp_broker`` -> ``bridges``).

    By key rather than by defining module, because the live-model and the
    plugin keys share a module but not a reader.  A key no rule claims is
    core (the router, the publisher and the views read those).
    """
    if name == 'bridges' or name.split('_', 1)[0] in _BRIDGE_WORDS:
        return 'bridges'
    if name in _SECURITY_NAMES or name.startswith(_SECURITY_PREFIXES):
        return 'security'
    if name.startswith('model_'):
        return 'models'
    if name in _PLUGIN_NAMES or name.startswith(_PLUGIN_PREFIXES):
        return 'plugins'
    return 'core'


def target_id(key):
    """HTML id of a key's row: ``livehub.realm`` -> ``setting-livehub-realm``."""
    return nodes.make_id('setting-' + key)


# ``code`` (Markdown style, as the table writes it) or ``code`` (reST style).
_CODE = re.compile(r'``(.+?)``|`([^`]+)`')


def inline(text):
    """Plain text with backquoted spans as literals: a list of nodes."""
    result, pos = [], 0
    for match in _CODE.finditer(text):
        if match.start() > pos:
            result.append(nodes.Text(text[pos:match.start()]))
        result.append(nodes.literal(text=match.group(1) or match.group(2)))
        pos = match.end()
    if pos < len(text):
        result.append(nodes.Text(text[pos:]))
    return result


def _default_text(value):
    return None if value in ('', None) else str(value)


class LivehubSettingsDirective(SphinxDirective):
    """``.. livehub-settings::``: every setting, one section per group."""

    has_content = False

    def run(self):
        from pyramid_livehub.settings import all_settings
        rows = {group: [] for group, _, _ in GROUPS}
        for setting in all_settings():
            rows[group_of(setting.name)].append(setting)
        sections = []
        for group, title, intro in GROUPS:
            if rows[group]:
                sections.append(self._section(group, title, intro, rows[group]))
        return sections

    def _section(self, group, title, intro, settings):
        # An explicit target, so that pages can :ref:`settings-bridges`.
        section = nodes.section(ids=['settings-' + group], names=['settings-' + group])
        self.state.document.note_explicit_target(section)
        section += nodes.title(text=title)
        section += nodes.paragraph('', '', *inline(intro))
        section += self._table(settings)
        return section

    def _table(self, settings):
        table = nodes.table(classes=['livehub-settings'])
        tgroup = nodes.tgroup(cols=3)
        table += tgroup
        for width in (30, 20, 50):
            tgroup += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += self._row([[nodes.Text('Setting')], [nodes.Text('Default')],
                           [nodes.Text('Description')]])
        tgroup += head
        body = nodes.tbody()
        std = self.env.get_domain('std')
        for setting in settings:
            node_id = target_id(setting.key)
            default = _default_text(setting.default)
            row = self._row([
                [nodes.literal(text=setting.key)],
                [nodes.literal(text=default)] if default is not None else [nodes.emphasis(text='empty')],
                inline(setting.doc),
            ])
            row['ids'].append(node_id)
            index = addnodes.index(entries=[('single', '%s (setting)' % setting.key, node_id, '', None)])
            row[0][0].insert(0, index)
            std.note_object('setting', setting.key, node_id, location=(self.env.docname, self.lineno))
            body += row
        tgroup += body
        return table

    @staticmethod
    def _row(cells):
        row = nodes.row()
        for content in cells:
            entry = nodes.entry()
            entry += nodes.paragraph('', '', *content)
            row += entry
        return row


def setup(app):
    app.add_crossref_type('setting', 'setting')
    # A :setting: reference to a key that no longer exists fails the build.
    app.add_role_to_domain('std', 'setting', XRefRole(warn_dangling=True), override=True)
    app.add_directive('livehub-settings', LivehubSettingsDirective)
    return {'version': '1', 'parallel_read_safe': True, 'parallel_write_safe': True}
