"""Read the counters of the plugins running in the router (a WAMP call from outside)."""


STATS_PROCEDURE = 'livehub.plugins.stats'


def fetch_plugin_stats(settings, timeout=10.0):
    """Counters of the consumers and producers running in the router (a WAMP call).

    Returns the dict served by ``livehub.plugins.stats``: per consumer
    ``received/consumed/failed/dropped/waiting``, per producer
    ``polls/published/failed/overruns``, and ``load_errors``.  Raises
    ``RuntimeError`` when the router cannot be reached or runs no plugins.
    """
    import asyncio
    import concurrent.futures
    import threading

    from pyramid_livehub.publisher import backend_authentication, make_transport
    from pyramid_livehub.settings import LivehubSettings, parse_settings
    if not isinstance(settings, LivehubSettings):
        settings = parse_settings(settings)
    outcome = concurrent.futures.Future()

    def run():
        import txaio
        from autobahn.asyncio.component import Component
        txaio.use_asyncio()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        transport = make_transport(settings)
        transport['max_retries'] = 0
        component = Component(transports=[transport], realm=settings['realm'],
                              authentication=backend_authentication(settings))

        async def on_join(session, details):
            try:
                outcome.set_result(await session.call(STATS_PROCEDURE))
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                outcome.set_exception(exc)
            session.leave()

        component.on('join', on_join)
        finished = component.start(loop=loop)
        finished.add_done_callback(lambda _: loop.call_soon(loop.stop))
        loop.call_later(timeout, loop.stop)
        try:
            loop.run_forever()
        finally:
            if not outcome.done():
                outcome.set_exception(RuntimeError('no answer'))
            loop.close()

    threading.Thread(target=run, name='livehub-plugin-stats', daemon=True).start()
    try:
        return outcome.result(timeout + 1)
    except Exception as exc:
        if 'no_such_procedure' in str(getattr(exc, 'error', '')) or 'no_such_procedure' in str(exc):
            raise RuntimeError('the router at %s runs no consumers or producers'
                               % settings['router_url']) from None
        raise RuntimeError('could not read the plugin counters from the router at %s: %s'
                           % (settings['router_url'], exc)) from None
