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


# -- listen addresses apart from the public URLs ---------------------------------

SECRET = {'livehub.backend_secret': 'backend-secret-0123456789'}


def transports(node):
    return {t['id']: t for t in node['workers'][0]['transports']}


def test_without_listen_settings_the_router_listens_on_the_urls_host_and_port():
    browsers, backend = transports(render_node_config(parse_settings({}))).values()
    assert browsers['endpoint'] == {'type': 'tcp', 'interface': '127.0.0.1', 'port': 8080}
    assert backend['endpoint'] == {'type': 'tcp', 'interface': '127.0.0.1', 'port': 8081}


def test_a_wss_url_without_listen_setting_listens_plain_on_its_host_and_port_443():
    # unchanged behaviour: the router never speaks TLS, the proxy does
    node = render_node_config(parse_settings(dict(SECRET, **{
        'livehub.browser_url': 'wss://shop.example.com/live',
        'livehub.router_url': 'wss://router.example.com/backend'})))
    browsers, backend = transports(node)['browsers'], transports(node)['backend']
    assert browsers['endpoint'] == {'type': 'tcp', 'interface': 'shop.example.com', 'port': 443}
    assert backend['endpoint'] == {'type': 'tcp', 'interface': 'router.example.com', 'port': 443}
    assert 'live' in browsers['paths']
    assert 'tls' not in browsers['endpoint'] and 'tls' not in backend['endpoint']


def test_browser_listen_sets_the_endpoint_and_the_path_stays_the_urls():
    node = render_node_config(parse_settings(dict(SECRET, **{
        'livehub.browser_url': 'wss://shop.example.com/live/ws',
        'livehub.browser_listen': '127.0.0.1:9080'})))
    browsers = transports(node)['browsers']
    # plain: no "tls" in the endpoint; nginx terminates TLS
    assert browsers['endpoint'] == {'type': 'tcp', 'interface': '127.0.0.1', 'port': 9080}
    assert set(browsers['paths']) == {'live/ws', 'info'}
    assert transports(node)['backend']['endpoint']['port'] == 8081


def test_router_listen_sets_the_backend_endpoint_and_components_connect_locally():
    node = render_node_config(parse_settings(dict(SECRET, **{
        'livehub.router_url': 'rs://router-host.invalid:18081',
        'livehub.router_listen': '0.0.0.0:9081',
        'livehub.bridges': 'zmq', 'livehub.zmq_subscribe_endpoints': 'tcp://127.0.0.1:6543'})))
    assert transports(node)['backend']['endpoint'] == {'type': 'tcp', 'interface': '0.0.0.0',
                                                       'port': 9081}
    container = node['workers'][1]
    for component in container['components']:
        # on the router host: the listen port, the loopback address, not the public name
        assert component['transport'] == {
            'type': 'rawsocket', 'serializer': 'msgpack',
            'endpoint': {'type': 'tcp', 'host': '127.0.0.1', 'port': 9081}}
    assert 'router-host.invalid' not in json.dumps(container)


def test_a_specific_listen_host_is_where_components_connect():
    node = render_node_config(parse_settings(dict(SECRET, **{
        'livehub.router_url': 'rs://router.example.com:8081',
        'livehub.router_listen': '10.0.0.5:8081', 'livehub.consumers': 'x:Y'})))
    endpoint = node['workers'][1]['components'][0]['transport']['endpoint']
    assert endpoint == {'type': 'tcp', 'host': '10.0.0.5', 'port': 8081}


def test_ipv6_listen_addresses_and_a_websocket_backend():
    node = render_node_config(parse_settings(dict(SECRET, **{
        'livehub.browser_url': 'wss://shop.example.com/ws',
        'livehub.browser_listen': '[::1]:9080',
        'livehub.router_url': 'wss://router.example.com/backend',
        'livehub.router_listen': '[::]:9081', 'livehub.consumers': 'x:Y'})))
    assert transports(node)['browsers']['endpoint'] == {
        'type': 'tcp', 'interface': '::1', 'port': 9080, 'version': 6}
    assert transports(node)['backend']['endpoint'] == {
        'type': 'tcp', 'interface': '::', 'port': 9081, 'version': 6}
    assert transports(node)['backend']['type'] == 'websocket'
    transport = node['workers'][1]['components'][0]['transport']
    # plain ws:// to the listen port (the router does not speak TLS), the URL's path
    assert transport == {'type': 'websocket', 'url': 'ws://[::1]:9081/backend',
                         'serializers': ['msgpack'],
                         'endpoint': {'type': 'tcp', 'host': '::1', 'port': 9081, 'version': 6}}


def test_router_process_waits_for_and_frees_the_listen_addresses(tmp_path):
    from pyramid_livehub.router.process import RouterProcess
    node = RouterProcess(parse_settings(dict(SECRET, **{
        'livehub.browser_url': 'wss://shop.example.com/ws', 'livehub.browser_listen': '[::]:9080',
        'livehub.router_url': 'rs://router.example.com:18081',
        'livehub.router_listen': '0.0.0.0:9081'})), str(tmp_path))
    assert node.endpoints() == [('::1', 9080), ('127.0.0.1', 9081)]
    # without listen settings: the URLs' host and port, 443 for wss:// without a port
    node = RouterProcess(parse_settings(dict(SECRET, **{
        'livehub.browser_url': 'wss://localhost/ws'})), str(tmp_path))
    assert node.endpoints() == [('localhost', 443), ('127.0.0.1', 8081)]


def test_the_livehub_router_banner_says_where_it_listens():
    from pyramid_livehub.cli import _with_listen
    settings = parse_settings(dict(SECRET, **{'livehub.browser_url': 'wss://shop.example.com/ws',
                                              'livehub.browser_listen': '127.0.0.1:9080'}))
    assert _with_listen(settings, 'browser_url') == \
        'wss://shop.example.com/ws (listening on 127.0.0.1:9080)'
    assert _with_listen(settings, 'router_url') == 'rs://127.0.0.1:8081'


CHECK_SCRIPT = '''
import json, sys
from crossbar.personality import Personality
for config in json.load(sys.stdin):
    Personality.check_config(Personality, config)
print('ok')
'''


def test_rendered_listen_configs_pass_crossbar_checkconfig():
    # in a subprocess: crossbar imports Twisted, the tests use Autobahn on asyncio
    listen = dict(SECRET, **{'livehub.consumers': 'x:Y', 'livehub.browser_listen': '[::]:9080'})
    configs = [render_node_config(parse_settings(dict(listen, **extra))) for extra in (
        {'livehub.browser_url': 'wss://shop.example.com/ws', 'livehub.router_listen': '[::]:9081'},
        {'livehub.router_url': 'ws://router.invalid:18081/b', 'livehub.router_listen': '0.0.0.0:9081'},
    )]
    result = subprocess.run([sys.executable, '-c', CHECK_SCRIPT], input=json.dumps(configs),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith('ok'), result.stderr[-2000:]


def test_two_transports_on_one_port_are_refused_with_both_keys_named():
    import pytest
    from pyramid.exceptions import ConfigurationError
    clashes = [
        {'livehub.browser_url': 'ws://127.0.0.1:8080/ws',
         'livehub.router_url': 'rs://127.0.0.1:8080'},
        {'livehub.browser_url': 'wss://example.com/ws',
         'livehub.browser_listen': '0.0.0.0:9000',
         'livehub.router_url': 'rs://127.0.0.1:9000', 'livehub.backend_secret': 's' * 20},
    ]
    for raw in clashes:
        with pytest.raises(ConfigurationError, match=r'both listen on port \d+ \(livehub\.browser'
                                                     r'.*livehub\.router_url.*its own port'):
            render_node_config(parse_settings(raw))
    # the same port on two different interfaces is fine
    render_node_config(parse_settings({
        'livehub.browser_url': 'wss://example.com/ws', 'livehub.browser_listen': '127.0.0.2:9000',
        'livehub.router_url': 'rs://127.0.0.1:9000', 'livehub.backend_secret': 's' * 20}))
