"""Consumer/producer classes, topic patterns and plugin settings: pure logic, no router."""
import sys

import pytest
from pyramid.exceptions import ConfigurationError

from pyramid_livehub.plugins import (Consumer, Message, PollingProducer, describe_plugins,
                                     load_plugin_class, subscription_for)
from pyramid_livehub.settings import parse_settings


@pytest.mark.parametrize('pattern, expected', [
    ('app.orders.created', ('app.orders.created', 'exact')),
    ('app.*.created', ('app..created', 'wildcard')),
    ('app..created', ('app..created', 'wildcard')),
    ('demo.messages.*', ('demo.messages.', 'wildcard')),
    ('app.orders.**', ('app.orders.', 'prefix')),
])
def test_topic_patterns_map_to_wamp_subscriptions(pattern, expected):
    assert subscription_for(pattern) == expected


@pytest.mark.parametrize('pattern, message', [
    ('app.**.x', '"\\*\\*" may only be the last'),
    ('**', 'may only end a pattern'),
    ('app. orders', 'whitespace'),
    ('', 'non-empty str'),
])
def test_bad_topic_patterns_are_refused_with_the_reason(pattern, message):
    with pytest.raises(ValueError, match=message):
        subscription_for(pattern)


class NoTopic(Consumer):
    def consume(self, message):
        pass


class NoConsume(Consumer):
    topic = 'a.b'


class BadFrequency(PollingProducer):
    frequency = 0

    def poll(self):
        return None


class NotAPlugin:
    topic = 'a.b'


class AsyncConsume(Consumer):
    topic = 'a.b'

    async def consume(self, message):
        pass


@pytest.mark.parametrize('kind, name, message', [
    ('consumer', 'test_plugin_classes:NoTopic', 'has no topic'),
    ('consumer', 'test_plugin_classes:NoConsume', 'does not implement consume'),
    ('producer', 'test_plugin_classes:BadFrequency', 'frequency must be a number of seconds > 0'),
    ('consumer', 'test_plugin_classes:NotAPlugin', 'not a subclass of pyramid_livehub.plugins.Consumer'),
    ('consumer', 'test_plugin_classes:Missing', "has no 'Missing'"),
    ('consumer', 'test_plugin_classes:AsyncConsume', 'consume is async; make it a plain method'),
    ('consumer', 'no_such_module_xyz:Thing', 'cannot import'),
])
def test_broken_plugin_classes_are_refused_naming_the_fix(kind, name, message):
    with pytest.raises(ValueError, match=message):
        load_plugin_class(kind, name)


def test_broken_plugin_is_listed_with_its_error_and_the_others_still_load():
    lines = describe_plugins({'livehub.plugin_entry_points': 'false',
                              'livehub.consumers': 'test_plugin_classes:NoTopic '
                                                   'test_plugin_classes:NoConsume'})
    assert len(lines) == 2 and all('ERROR' in line for line in lines)


def test_livehub_list_imports_settings_listed_plugins_from_the_current_directory(tmp_path,
                                                                              monkeypatch, capsys):
    from pyramid_livehub.cli import main
    (tmp_path / 'here_plugins.py').write_text(
        'from pyramid_livehub.plugins import PollingProducer\n'
        'class Beat(PollingProducer):\n'
        '    topic = "app.beat"\n'
        '    frequency = 2\n'
        '    def poll(self):\n'
        '        return {}\n')
    (tmp_path / 'app.ini').write_text('[app:main]\nlivehub.plugin_entry_points = false\n'
                                      'livehub.producers = here_plugins:Beat\n')
    monkeypatch.chdir(tmp_path)
    main(['list', '--ini', 'app.ini'])
    assert capsys.readouterr().out.splitlines() == [
        'producer here_plugins:Beat  every 2s -> app.beat  [livehub.producers]']
    assert str(tmp_path) not in sys.path  # only borrowed while importing
    sys.modules.pop('here_plugins', None)


def test_plugin_class_setting_refuses_a_bad_name():
    with pytest.raises(ConfigurationError, match='livehub.consumers: expected "package.module:Class"'):
        parse_settings({'livehub.consumers': 'demo.plugins.Counter'})


def test_no_plugins_means_no_container_component():
    from pyramid_livehub.router.plugins import plugin_components
    assert plugin_components(parse_settings({'livehub.plugin_entry_points': 'false'})) == []
    components = plugin_components(parse_settings({'livehub.plugin_entry_points': 'false',
                                                   'livehub.producers': 'demo.plugins:Clock'}))
    assert [c['classname'] for c in components] == ['pyramid_livehub.router.plugins.host.PluginHost']


def test_a_message_keeps_the_stream_position_apart_from_its_payload():
    position = {'epoch': 'e', 'offset': 3}
    only_kwargs = Message('app.orders.1', [], {'total': 9}, position)
    assert only_kwargs.body == {'total': 9} and only_kwargs.kwargs == {'total': 9}
    assert only_kwargs.position == position
    assert 'position=' in repr(only_kwargs)
    plain = Message('app.misc', ['x'])
    assert (plain.body, plain.position) == ('x', None)
