"""Views that pyramid_livehub registers under ``livehub.route_prefix``."""
from pyramid_livehub.interfaces import IPublisher


def client_config_view(request):
    """``GET /livehub/config.json``: what livehub.js needs to connect.

    ``{"url": ws-url, "realm": realm, "auth": null | {...}}``.  Feature
    modules add keys with :func:`add_client_config`.
    """
    settings = request.registry.getUtility(IPublisher).settings
    request.response.headers['Cache-Control'] = 'no-store'
    payload = {
        'url': settings['browser_url'],
        'realm': settings['realm'],
        'auth': None,
    }
    for contribute in request.registry.__dict__.get('livehub_client_config', ()):
        payload.update(contribute(request, settings))
    return payload


def add_client_config(config, contribute):
    """Register ``contribute(request, settings) -> dict`` merged into ``config.json``."""
    contributors = config.registry.__dict__.setdefault('livehub_client_config', [])
    if contribute not in contributors:
        contributors.append(contribute)


#: How long ``/health`` waits for a publisher that is still connecting.
HEALTH_WAIT = 0.5

#: How long ``/health`` waits for the router's bridges to answer.
BRIDGE_WAIT = 1.0


def health_view(request):
    """``GET /livehub/health``: this process's publisher and the router's bridges, for monitors.

    ``{"connected": bool, "pending": n, "stats": {queued, sent, dropped,
    failed, reconnects, joins}, "bridges": {name: {"connected": bool,
    "last_error": str}}}``; status 200 while connected to the router, 503
    when not.  ``bridges`` lists the bridges of ``livehub.bridges`` as the
    router reports them (a WAMP call to each bridge, ``BRIDGE_WAIT`` at
    most); a broker that is down shows there but does not turn the status
    to 503: the web process can still publish.  A publisher nobody has used
    yet is started here, so the answer says whether the router can be
    reached, not whether anyone has published.
    """
    publisher = request.registry.getUtility(IPublisher)
    # Wait only for a session that has never joined (e.g. started just now):
    # a publisher that lost its router answers 503 at once, not after 0.5 s.
    connected = publisher.connect(0 if publisher.stats.joins else HEALTH_WAIT)
    request.response.headers['Cache-Control'] = 'no-store'
    request.response.status_int = 200 if connected else 503
    result = {
        'connected': connected,
        'pending': publisher.pending(),
        'stats': publisher.stats.as_dict(),
    }
    names = publisher.settings.get('bridges') or []
    if names:
        result['bridges'] = bridge_status(publisher, names, BRIDGE_WAIT)
    return result


def bridge_status(publisher, names, timeout):
    """``{name: {"connected": bool, "last_error": str}}`` as the router's bridges report it.

    Calls each bridge's ``livehub.bridges.<name>.stats`` over the
    publisher's session; a bridge that does not answer is reported as not
    connected, with the reason.
    """
    import asyncio
    session = getattr(publisher, '_session', None)
    loop = getattr(publisher, '_loop', None)
    if session is None or loop is None:
        return {name: {'connected': False, 'last_error': 'router not reachable'}
                for name in names}

    async def ask(name):
        try:
            stats = await asyncio.wait_for(
                session.call('livehub.bridges.%s.stats' % name), timeout)
        except asyncio.TimeoutError:
            return {'connected': False, 'last_error': 'no answer within %ss' % timeout}
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the view
            reason = getattr(exc, 'error', None) or str(exc) or type(exc).__name__
            if reason == 'wamp.error.no_such_procedure':
                reason = 'not running in the router (is it started with this livehub.bridges?)'
            return {'connected': False, 'last_error': reason}
        return {'connected': bool(stats.get('connected')),
                'last_error': stats.get('last_error') or ''}

    async def ask_all():
        answers = await asyncio.gather(*(ask(name) for name in names))
        return dict(zip(names, answers))

    future = asyncio.run_coroutine_threadsafe(ask_all(), loop)
    try:
        return future.result(timeout + 1)
    except Exception as exc:  # noqa: BLE001 - e.g. the loop stopped meanwhile
        future.cancel()
        return {name: {'connected': False, 'last_error': 'no answer: %s' % exc} for name in names}
