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


#: Settings that turn on every router component (bridges, plugin host, auth).
EVERYTHING_ON = {
    'livehub.bridges': 'amqp, mqtt zmq stomp',
    'livehub.zmq_subscribe_endpoints': 'tcp://127.0.0.1:6543',
    'livehub.consumers': 'livehub_plugin_fixture:Recorder',
    'livehub.auth': 'true',
    'livehub.ticket_secret': 'ticket-secret-0123456789-abcdefghijklmnop',
    'livehub.backend_secret': 'backend-secret-0123456789',
    'livehub.mqtt_password': 'mqtt-password',
    'livehub.amqp_broker': 'amqp://user:amqp-password@127.0.0.1:5672/%2F',
}


def test_each_router_component_gets_only_the_settings_it_uses():
    node = render_node_config(parse_settings(EVERYTHING_ON))
    router, container = node['workers']
    auth = {c['id']: c for c in router['components']}['livehub_auth']
    auth_settings = auth['extra']['settings']
    assert auth_settings['ticket_secret'] == EVERYTHING_ON['livehub.ticket_secret']
    assert 'backend_secret' not in auth_settings
    assert not [k for k in auth_settings if k.startswith(('amqp_', 'mqtt_', 'zmq_', 'stomp_'))]
    components = {c['id']: c['extra']['settings'] for c in container['components']}
    assert set(components) == {'bridge-amqp', 'bridge-mqtt', 'bridge-zmq', 'bridge-stomp', 'plugins'}
    for component_id, settings in components.items():
        # every container component joins with WAMP-CRA as the backend
        assert settings['backend_secret'] == EVERYTHING_ON['livehub.backend_secret']
        assert 'ticket_secret' not in settings, component_id
        own = component_id.replace('bridge-', '')
        others = [k for k in settings if k.split('_')[0] in ('amqp', 'mqtt', 'zmq', 'stomp')
                  and k.split('_')[0] != own]
        assert others == [], (component_id, others)
    assert components['bridge-mqtt']['mqtt_password'] == 'mqtt-password'
    assert 'amqp_broker' not in components['bridge-mqtt']
    assert components['plugins']['consumers'] == ['livehub_plugin_fixture:Recorder']


def test_rendering_the_config_never_imports_twisted():
    # The web process renders the config (livehub router, tests) and runs the
    # asyncio publisher; txaio cannot switch framework once Twisted is chosen.
    code = (
        'import sys, json\n'
        'import pyramid_livehub, pyramid_livehub.testing\n'
        'from pyramid_livehub.router.node_config import render_node_config\n'
        'from pyramid_livehub.settings import parse_settings\n'
        'render_node_config(parse_settings({}))\n'
        'render_node_config(parse_settings(%r))\n'
        'print(json.dumps(sorted(m for m in sys.modules if m.startswith(("twisted", "autobahn.twisted")))))\n'
    ) % (EVERYTHING_ON,)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], ('rendering the node config imported %s: keep router component '
                          'providers in modules without Twisted imports' % loaded[:5])
