"""Parsing of the livehub.history* settings and the retention rules they make."""
import json

import pytest

from pyramid_livehub.history import history_components
from pyramid_livehub.history.settings import (
    SETTINGS,
    HistoryRules,
    Retention,
    as_history_lines,
    as_history_store,
    redis_url_and_prefix,
)
from pyramid_livehub.patterns import parse_pattern


def test_history_lines_parse_into_json_ready_rows():
    text = '\n  app.orders.** 1000 3600\n\napp.prices.* 1\n'
    assert as_history_lines(text) == [['app.orders.**', 1000, 3600], ['app.prices.*', 1, None]]
    assert as_history_lines('') == []
    assert json.loads(json.dumps(as_history_lines(text))) == as_history_lines(text)
    assert as_history_lines(as_history_lines(text)) == as_history_lines(text)


@pytest.mark.parametrize('line, message', [
    ('app.orders.**', 'is not "<pattern> <size> \\[<seconds>\\]"'),
    ('app.orders.** 10 20 30', 'is not "<pattern> <size>'),
    ('app.orders.** ten', 'size \'ten\' is not a whole number'),
    ('app.orders.** 0', 'size must be between 1'),
    ('app.orders.** 10 -5', 'seconds must be between 1'),
    ('app.**.x 10', 'livehub.history line .*"\\*\\*" may only be the last component'),
    ('** 10', 'after a fixed start \\(e.g. app.\\*\\*\\)'),
    ('app..x 10', "bad component '': empty"),
    ('app.ord*.x 10', "bad component 'ord\\*'.*use words"),
    ('app.user.{authid} 10', '{authid} is only allowed in security rules'),
])
def test_bad_history_lines_say_what_is_wrong(line, message):
    with pytest.raises(ValueError, match=message):
        as_history_lines(line)


@pytest.mark.parametrize('pattern, topic, matches', [
    ('app.orders.**', 'app.orders.1', True),
    ('app.orders.**', 'app.orders.1.lines', True),
    ('app.orders.**', 'app.orders', False),
    ('app.*', 'app.x', True),
    ('app.*', 'app.x.y', False),
    ('app.*.price', 'app.x.price', True),
    ('app.*.price', 'app.x.volume', False),
    ('app.x', 'app.x', True),
    ('app.x', 'app.xy', False),
])
def test_patterns_star_is_one_component_double_star_any_depth(pattern, topic, matches):
    # the one pattern language (pyramid_livehub.patterns), and the rules use it
    assert parse_pattern(pattern).matches(topic) is matches
    assert (HistoryRules('%s 5' % pattern).retention(topic) is not None) is matches


def test_first_matching_line_decides_the_retention():
    rules = HistoryRules('app.orders.vip.* 50\napp.orders.** 1000 3600')
    assert rules.retention('app.orders.vip.1') == Retention(50)
    assert rules.retention('app.orders.1') == Retention(1000, 3600)
    assert rules.retention('app.other') is None
    assert not HistoryRules('')


def test_history_store_is_memory_or_a_redis_url():
    assert as_history_store(' Memory ') == 'memory'
    assert as_history_store('redis://127.0.0.1:6379/0') == 'redis://127.0.0.1:6379/0'
    for bad, message in [('mongodb://x', 'expected "memory" or a Redis URL'),
                         ('redis://h:port/0', 'port is not a number'),
                         ('redis://h:1/zero', 'database is a number'),
                         ('redis://h:1/0?ttl=4', 'only \\?prefix=')]:
        with pytest.raises(ValueError, match=message):
            as_history_store(bad)
    assert redis_url_and_prefix('redis://h:1/2?prefix=x:') == ('redis://h:1/2', 'x:')
    assert redis_url_and_prefix('redis://h:1/2') == ('redis://h:1/2', 'livehub:history:')


def test_settings_rows_have_docs_and_parse_their_defaults():
    names = [s.name for s in SETTINGS]
    assert names == ['history', 'history_store', 'history_max_topics']
    for setting in SETTINGS:
        assert setting.doc and setting.key.startswith('livehub.')
        setting.parse(setting.default)


def test_the_component_is_configured_only_when_history_names_topics():
    assert history_components({}) == []
    assert history_components({'history': []}) == []
    (component,) = history_components({'history': [['app.orders.**', 10, None]],
                                       'history_store': 'redis://127.0.0.1:6379/0',
                                       'history_max_topics': 7})
    assert component['classname'] == 'pyramid_livehub.history.component.HistoryComponent'
    assert component['extra'] == {'history': [['app.orders.**', 10, None]],
                                  'store': 'redis://127.0.0.1:6379/0', 'max_topics': 7}


def test_split_position_takes_the_reserved_key_off_a_received_event():
    from pyramid_livehub.history import split_position
    received = {'n': 1, 'livehub_position': {'epoch': 'e', 'offset': 4}}
    assert split_position(received) == ({'n': 1}, {'epoch': 'e', 'offset': 4})
    assert received['livehub_position'] == {'epoch': 'e', 'offset': 4}  # not modified
    assert split_position({'n': 1}) == ({'n': 1}, None)
    assert split_position({}) == ({}, None)
