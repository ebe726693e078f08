"""Read the counters of the plugins running in the router (a WAMP call from outside)."""


STATS_PROCEDURE = 'livehub.plugins.stats'


def fetch_plugin_stats(settings, timeout=10.0):
    """Counters of the consumers and producers running in the router (a WAMP call).

    Returns the dict served by ``livehub.plugins.stats``: per consumer
    ``received/consumed/failed/dropped/waiting``, per producer
    ``polls/published/failed/overruns``, and ``load_errors``.  Raises
    ``RuntimeError`` when the router cannot be reached or runs no plugins.
    """
    from pyramid_livehub._session import run_with_session
    from pyramid_livehub.settings import LivehubSettings, parse_settings
    if not isinstance(settings, LivehubSettings):
        settings = parse_settings(settings)
    try:
        return run_with_session(settings, lambda session: session.call(STATS_PROCEDURE),
                                timeout=timeout, name='livehub-plugin-stats')
    except Exception as exc:
        if 'no_such_procedure' in '%s %s' % (getattr(exc, 'error', ''), exc):
            raise RuntimeError('the router at %s runs no consumers or producers'
                               % settings['router_url']) from None
        raise RuntimeError('could not read the plugin counters from the router at %s: %s'
                           % (settings['router_url'], exc or type(exc).__name__)) from None
