"""``GET /livehub/config.json``: what livehub.js is told (no router needed)."""
from pyramid_livehub.settings import parse_settings


def test_config_json_serves_the_reconnect_policy_from_settings(make_testapp):
    raw = {'livehub.initial_retry_delay': '0.25', 'livehub.max_retry_delay': '7',
           'livehub.retry_delay_growth': '2', 'livehub.retry_delay_jitter': '0.3',
           'livehub.max_retries': '12'}
    served = make_testapp(raw).get('/livehub/config.json').json
    assert served['initial_retry_delay'] == 0.25
    assert served['max_retry_delay'] == 7.0
    assert served['retry_delay_growth'] == 2.0
    assert served['retry_delay_jitter'] == 0.3
    assert served['max_retries'] == 12


def test_config_json_defaults_are_the_settings_defaults(make_testapp):
    served = make_testapp({}).get('/livehub/config.json').json
    defaults = parse_settings({})
    for key in ('max_retries', 'initial_retry_delay', 'max_retry_delay', 'retry_delay_growth',
                'retry_delay_jitter'):
        assert served[key] == defaults[key], key
    assert served['url'] == defaults['browser_url'] and served['realm'] == defaults['realm']
