"""The rendered crossbar node config, and what rendering it may import."""
import json
import subprocess
import sys

from pyramid_livehub.router.node_config import render_node_config
from pyramid_livehub.settings import parse_settings


def test_backend_transport_requires_wampcra_for_the_backend_identity():
    node = render_node_config(parse_settings({'livehub.backend_secret': 's' * 20}))
    backend = [t for t in node['workers'][0]['transports'] if t['id'] == 'backend'][0]
    users = backend['auth']['wampcra']['users']
    assert users == {'backend': {'secret': 's' * 20, 'role': 'backend'}}
    assert 'anonymous' not in backend['auth']


def test_browser_transport_has_no_root_path_that_would_swallow_ws():
    node = render_node_config(parse_settings({'livehub.browser_url': 'ws://127.0.0.1:9000/live'}))
    browsers = [t for t in node['workers'][0]['transports'] if t['id'] == 'browsers'][0]
    assert browsers['endpoint'] == {'type': 'tcp', 'interface': '127.0.0.1', 'port': 9000}
    assert '/' not in browsers['paths']
    assert browsers['paths']['live']['type'] == 'websocket'


def test_router_components_connect_with_msgpack_whatever_the_publisher_uses():
    for url, key in (('rs://127.0.0.1:8081', 'serializer'), ('ws://127.0.0.1:8081/ws', 'serializers')):
        node = render_node_config(parse_settings({'livehub.bridges': 'amqp', 'livehub.router_url': url,
                                                  'livehub.serializer': 'json'}))
        backend = [t for t in node['workers'][0]['transports'] if t['id'] == 'backend'][0]
        transport = node['workers'][1]['components'][0]['transport']
        assert transport[key] in ('msgpack', ['msgpack'])
        assert 'msgpack' in backend['serializers']


def test_rendering_the_config_never_imports_twisted():
    # The web process renders the config (livehub router, tests) and runs the
    # asyncio publisher; txaio cannot switch framework once Twisted is chosen.
    code = (
        'import sys, json\n'
        'from pyramid_livehub.router.node_config import render_node_config, COMPONENT_PROVIDERS\n'
        'from pyramid_livehub.router.node_config import _component_providers\n'
        'from pyramid_livehub.settings import parse_settings\n'
        'list(_component_providers())\n'
        'render_node_config(parse_settings({}))\n'
        'print(json.dumps(sorted(m for m in sys.modules if m.startswith(("twisted", "autobahn.twisted")))))\n'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], ('rendering the node config imported %s: keep router component '
                          'providers in modules without Twisted imports' % loaded[:5])
