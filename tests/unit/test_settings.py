"""Settings: every livehub.* key parsed in one place, wrong values refused at start-up."""
import pytest
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError

from pyramid_livehub.settings import CORE_SETTINGS, all_settings, parse_settings

BAD_SETTINGS = [
    ('livehub.router_url', 'htp://x', 'expected a rs:// or rss:// or ws:// or wss:// URL'),
    ('livehub.router_url', 'rs://127.0.0.1', 'needs a port'),
    ('livehub.router_url', 'ws://127.0.0.1:notaport/ws', 'port is not a number'),
    ('livehub.browser_url', 'rs://127.0.0.1:8080', 'expected a ws:// or wss:// URL'),
    ('livehub.router_listen', '127.0.0.1', 'the port is missing'),
    ('livehub.browser_listen', '127.0.0.1:http', 'the port must be a number from 1 to 65535'),
    ('livehub.realm', 'my realm', 'a realm is letters'),
    ('livehub.serializer', 'jsn', "did you mean 'json'"),
    ('livehub.backend_authid', '', 'must not be empty'),
    ('livehub.backend_secret', 'short', 'too short'),
    ('livehub.queue_size', '0', 'expected a number >= 1'),
    ('livehub.queue_size', 'many', 'expected a whole number'),
    ('livehub.overflow', 'drop-oldst', "did you mean 'drop_oldest'"),
    ('livehub.transactional', 'maybe', 'expected true or false'),
    ('livehub.publish_acks', 'sometimes', 'expected true or false'),
    ('livehub.publish_linger', '1', 'expected a number <= 0.1'),
    ('livehub.publish_block_timeout', '-1', 'expected a number >= 0.0'),
    ('livehub.max_retries', '-2', 'expected a number >= -1'),
    ('livehub.initial_retry_delay', 'soon', 'expected a number'),
    ('livehub.max_retry_delay', '0', 'expected a number >= 0.01'),
    ('livehub.retry_delay_growth', '0.5', 'expected a number >= 1.0'),
    ('livehub.retry_delay_jitter', '2', 'expected a number <= 1.0'),
    ('livehub.shutdown_timeout', '-1', 'expected a number >= 0.0'),
    ('livehub.route_prefix', 'livehub/', 'expected a path that starts with "/"'),
    ('livehub.health', 'sometimes', 'expected true or false'),
    ('livehub.metrics', 'sometimes', 'expected true or false'),
]


def test_defaults_parse_to_the_documented_values():
    parsed = parse_settings({})
    for setting in CORE_SETTINGS:
        assert parsed[setting.name] == setting.parse(setting.default)


def test_ini_strings_are_typed():
    parsed = parse_settings({'livehub.queue_size': '50', 'livehub.transactional': 'off',
                             'livehub.initial_retry_delay': '0.25'})
    assert parsed.queue_size == 50
    assert parsed.transactional is False
    assert parsed.initial_retry_delay == 0.25


@pytest.mark.parametrize('key,value,message', BAD_SETTINGS)
def test_bad_setting_names_key_value_and_fix(key, value, message):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({key: value})
    text = str(info.value)
    assert key in text
    if key != 'livehub.backend_secret':   # a secret is never echoed
        assert repr(value) in text
    assert message in text


def test_every_core_key_has_a_bad_value_test():
    tested = {key for key, _, _ in BAD_SETTINGS}
    assert {s.key for s in CORE_SETTINGS} <= tested


def test_unknown_key_is_refused_with_a_suggestion():
    with pytest.raises(ConfigurationError, match="Did you mean 'livehub.queue_size'"):
        parse_settings({'livehub.queue_sise': '5'})


def test_default_secret_is_refused_for_a_remote_router():
    with pytest.raises(ConfigurationError, match='livehub.backend_secret'):
        parse_settings({'livehub.router_url': 'rs://router.example.com:8081'})
    parse_settings({'livehub.router_url': 'rs://router.example.com:8081',
                    'livehub.backend_secret': 'x' * 20})


def test_bad_setting_fails_at_startup_not_at_first_publish():
    config = Configurator(settings={'livehub.queue_size': 'lots'})
    config.include('pyramid_livehub')
    with pytest.raises(ConfigurationError, match='livehub.queue_size'):
        config.make_wsgi_app()


def test_settings_added_after_include_still_count():
    from pyramid_livehub import get_publisher
    config = Configurator(settings={})
    config.include('pyramid_livehub')
    config.add_settings({'livehub.realm': 'later'})
    config.commit()
    assert get_publisher(config.registry).settings.realm == 'later'


def test_setting_names_are_unique():
    names = [s.key for s in all_settings()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize('typo, documented', [
    ('livehub.mqtt_host', 'livehub.mqtt_hostname'),
    ('livehub.amqp_url', 'livehub.amqp_broker'),
    ('livehub.stomp_password', 'livehub.stomp_pass'),
    ('livehub.zmq_publish_endpoint', 'livehub.zmq_publish_endpoints'),
    ('livehub.bridge', 'livehub.bridges'),
])
def test_misspelled_key_suggests_the_documented_one(typo, documented):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({typo: 'x'})
    message = str(info.value)
    assert "Did you mean %r?" % documented in message
    assert 'settings reference (docs/settings.rst)' in message


@pytest.mark.parametrize('value', ['mqtt,amqp', 'mqtt, amqp', 'mqtt amqp', 'mqtt\namqp'])
def test_bridge_list_may_be_comma_or_space_separated(value):
    assert parse_settings({'livehub.bridges': value}).bridges == ['mqtt', 'amqp']


# -- cross-key checks run by parse_settings, so a mistake fails at app start-up

CROSS_KEY_MISTAKES = [
    ({'livehub.bridges': 'zmq', 'livehub.zmq_outbound': 'app.#'},
     'livehub.zmq_publish_endpoints'),
    ({'livehub.bridges': 'zmq'}, 'livehub.zmq_subscribe_endpoints'),
    ({'livehub.auth': 'true'}, 'livehub.ticket_secret'),
    ({'livehub.subscribe_anonymous': 'app.*'}, 'livehub.subscribe_anonymous'),
]


@pytest.mark.parametrize('raw, key', CROSS_KEY_MISTAKES)
def test_cross_key_mistake_fails_at_app_start_up_naming_the_key(raw, key):
    config = Configurator(settings=raw)
    config.include('pyramid_livehub')
    with pytest.raises(ConfigurationError, match=key):
        config.make_wsgi_app()


@pytest.mark.parametrize('key, value', [
    ('livehub.bridges', 'mqt'),                       # no such bridge
    ('livehub.mqtt_qos', '3'),
    ('livehub.amqp_broker', 'http://127.0.0.1:5672/'),
    ('livehub.zmq_subscribe_endpoints', '127.0.0.1:6543'),
    ('livehub.stomp_uri', 'localhost'),
    ('livehub.subscribe_user', 'app..x'),               # a security rule that is no pattern
    ('livehub.ticket_ttl', '1'),
])
def test_single_bridge_or_security_mistake_fails_at_app_start_up_naming_the_key(key, value):
    config = Configurator(settings={key: value})
    config.include('pyramid_livehub')
    with pytest.raises(ConfigurationError, match=key):
        config.make_wsgi_app()


@pytest.mark.parametrize('command', ['router', 'config'])
@pytest.mark.parametrize('raw, key', CROSS_KEY_MISTAKES)
def test_cross_key_mistake_fails_at_router_start_up_naming_the_key(raw, key, command, tmp_path):
    import subprocess
    import sys
    ini = tmp_path / 'app.ini'
    ini.write_text('[app:main]\nuse = egg:pyramid\n' + ''.join(
        '%s = %s\n' % (k, v.replace('%', '%%')) for k, v in raw.items()))
    argv = [sys.executable, '-m', 'pyramid_livehub.cli', command, '--ini', str(ini)]
    if command == 'router':
        argv += ['--cbdir', str(tmp_path / 'node')]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert key in result.stderr
    assert 'Traceback' not in result.stderr


def test_parsed_settings_are_registered_once_as_a_utility():
    from pyramid_livehub.interfaces import ILivehubSettings
    from pyramid_livehub import get_publisher
    config = Configurator(settings={'livehub.realm': 'once'})
    config.include('pyramid_livehub')
    config.commit()
    settings = config.registry.getUtility(ILivehubSettings)
    assert settings.realm == 'once'
    assert get_publisher(config.registry).settings is settings


# -- listen addresses (livehub.browser_listen, livehub.router_listen) -----------

@pytest.mark.parametrize('value, normalized', [
    ('', ''),
    ('127.0.0.1:8080', '127.0.0.1:8080'),
    (' 0.0.0.0:08080 ', '0.0.0.0:8080'),
    ('localhost:9000', 'localhost:9000'),
    ('router-1.internal:8081', 'router-1.internal:8081'),
    ('[::1]:8080', '[::1]:8080'),
    ('[0:0:0:0:0:0:0:0]:8080', '[::]:8080'),
])
def test_listen_address_is_host_and_port(value, normalized):
    parsed = parse_settings({'livehub.browser_listen': value, 'livehub.router_listen': value,
                             'livehub.backend_secret': 'x' * 20})
    assert parsed.browser_listen == parsed.router_listen == normalized


@pytest.mark.parametrize('value, message', [
    ('8080', 'a port alone does not say which interface to listen on: write 127.0.0.1:8080'),
    (':8080', '0.0.0.0:8080 (every interface)'),
    ('127.0.0.1', 'the port is missing: expected host:port, e.g. 127.0.0.1:8080'),
    ('127.0.0.1:', 'the port must be a number from 1 to 65535'),
    ('127.0.0.1:0', 'the port must be a number from 1 to 65535'),
    ('127.0.0.1:65536', 'the port must be a number from 1 to 65535'),
    ('127.0.0.1:-1', 'the port must be a number from 1 to 65535'),
    ('ws://127.0.0.1:8080/ws', 'without a scheme or a path'),
    ('127.0.0.1:8080/ws', 'without a scheme or a path'),
    ('::1:8080', 'an IPv6 address goes in brackets, e.g. [::1]:8080'),
    ('[::1]', 'expected [IPv6 address]:port, e.g. [::1]:8080'),
    ('[nothost]:8080', "'nothost' is not an IPv6 address"),
    ('my host:8080', "'my host' is not a host name or IP address"),
])
def test_bad_listen_address_names_the_key_the_value_and_the_fix(value, message):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({'livehub.browser_listen': value})
    text = str(info.value)
    assert text.startswith('livehub.browser_listen: ')
    assert repr(value) in text and message in text, text


def test_listen_address_examples_use_each_keys_own_port():
    with pytest.raises(ConfigurationError, match='127.0.0.1:8081'):
        parse_settings({'livehub.router_listen': '8081'})


@pytest.mark.parametrize('key, value', [
    ('livehub.router_listen', '0.0.0.0:8081'),
    ('livehub.browser_listen', '[::]:8080'),
    ('livehub.router_listen', '10.0.0.5:8081'),
])
def test_default_secret_is_refused_when_the_router_listens_beyond_this_machine(key, value):
    with pytest.raises(ConfigurationError) as info:
        parse_settings({key: value})
    assert 'livehub.backend_secret' in str(info.value) and key[len('livehub.'):] in str(info.value)
    parse_settings({key: value, 'livehub.backend_secret': 'x' * 20})


def test_default_secret_is_allowed_with_loopback_listen_addresses():
    parse_settings({'livehub.router_listen': '127.0.0.1:9081',
                    'livehub.browser_listen': '[::1]:9080'})
