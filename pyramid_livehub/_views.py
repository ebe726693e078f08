"""Views that pyramid_livehub registers under ``livehub.route_prefix``."""
from typing import Any, Callable

from pyramid_livehub.interfaces import IClientConfigContributors, ILivehubSettings, IPublisher


#: ``contribute(request, settings) -> dict``, merged into ``config.json``.
ClientConfigContributor = Callable[[Any, Any], dict[str, Any]]

#: The reconnect policy served to livehub.js (one formula on both sides).
RETRY_KEYS = ('max_retries', 'initial_retry_delay', 'max_retry_delay', 'retry_delay_growth',
              'retry_delay_jitter')


def client_config_view(request: Any) -> dict[str, Any]:
    """``GET /livehub/config.json``: what livehub.js needs to connect.

    ``{"url": ws-url, "realm": realm, "auth": null | {...}, <reconnect
    policy>}``: the reconnect keys (:data:`RETRY_KEYS`) make livehub.js back
    off exactly as the Python publisher does.  Feature modules add keys with
    ``config.add_livehub_client_config(contribute)``.
    """
    settings = request.registry.getUtility(ILivehubSettings)
    request.response.headers['Cache-Control'] = 'no-store'
    payload: dict[str, Any] = {
        'url': settings['browser_url'],
        'realm': settings['realm'],
        'auth': None,
    }
    payload.update({key: settings[key] for key in RETRY_KEYS})
    for contribute in request.registry.queryUtility(IClientConfigContributors, default=()):
        payload.update(contribute(request, settings))
    return payload


def add_client_config(config: Any, contribute: ClientConfigContributor) -> None:
    """Directive ``config.add_livehub_client_config(contribute)``.

    ``contribute(request, settings) -> dict`` is merged into ``config.json``.
    """
    contributors = config.registry.queryUtility(IClientConfigContributors)
    if contributors is None:
        contributors = []
        config.registry.registerUtility(contributors, IClientConfigContributors)
    if contribute not in contributors:
        contributors.append(contribute)


#: How long ``/health`` waits for a publisher that is still connecting.
HEALTH_WAIT = 0.5

#: How long ``/health`` waits for the router's bridges to answer.
BRIDGE_WAIT = 1.0


def health_view(request: Any) -> dict[str, Any]:
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


def bridge_status(publisher: Any, names: list[str], timeout: float) -> dict[str, Any]:
    """``{name: {"connected": bool, "last_error": str}}`` as the router's bridges report it.

    Calls each bridge's ``livehub.bridges.<name>.stats`` over the
    publisher's session; a bridge that does not answer is reported as not
    connected, with the reason.
    """
    return {name: _one_bridge_status(publisher, name, timeout) for name in names}


def _one_bridge_status(publisher: Any, name: str, timeout: float) -> dict[str, Any]:
    try:
        stats = publisher.call('livehub.bridges.%s.stats' % name, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - reported, never raised into the view
        reason = getattr(exc, 'error', None) or str(exc) or type(exc).__name__
        if reason == 'wamp.error.no_such_procedure':
            reason = 'not running in the router (is it started with this livehub.bridges?)'
        return {'connected': False, 'last_error': reason}
    return {'connected': bool(stats.get('connected')), 'last_error': stats.get('last_error') or ''}
