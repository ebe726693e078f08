/*
 * livehub.js: the browser side of pyramid_livehub, on top of AutobahnJS.
 * This entry builds window.livehub from the modules beside it; `make js`
 * bundles them into ../livehub.js, the file pages load (see ../build.mjs).
 *
 *   <script src="/livehub/static/vendor/autobahn.min.js"></script>
 *   <script src="/livehub/static/livehub.js"></script>
 *   <script>
 *     livehub.connect().then(function (session) {
 *       session.subscribe('app.orders.created', function (args, kwargs, details) { ... });
 *     });
 *   </script>
 *
 * What it adds to AutobahnJS, by module:
 *
 * - loader.mjs: it reads `<prefix>/config.json` (WebSocket URL, realm, auth)
 *   from the app that served the page, and the loader tag's data- options;
 * - session.mjs, hub.mjs: the session it hands out is the AutobahnJS session
 *   of the moment: every Session method and property works as AutobahnJS
 *   documents, and every subscription made through it is restored on the new
 *   session after a reconnect (subscribe() while offline is queued until the
 *   next session);
 * - hub.mjs, reconnect.mjs: it reconnects with backoff (the Python side's
 *   formula) after any loss, including a router shutdown and a refused
 *   ticket, fetching a fresh ticket before every attempt when the app enables
 *   ticket authentication (a visitor the ticket view calls anonymous,
 *   `403 {"anonymous": true}`, connects as anonymous);
 * - hub.mjs: the connection state (connecting / connected / reconnecting /
 *   offline) is observable: livehub.state, livehub.onstate(fn) and a
 *   `livehub:state` DOM event on document;
 * - recovery.mjs: nothing missed: on history-enabled topics the handler
 *   gets details.position, and after any reconnect the events missed
 *   meanwhile are fetched and delivered first, in order, without duplicates
 *   (or the page is told: details.recovered === false and a `livehub:gap`
 *   DOM event); subscribe options `history: N` (late join) and `since`
 *   (a position the server rendered into the page);
 * - widgets.mjs, payload.mjs: live widgets, bound without hand-written JS.
 *
 * Loaded as a plain script it defines window.livehub; livehub.mjs re-exports
 * the same object as an ES module.
 */
import {DEFAULTS, getBaseUrl, scriptOption, setBaseUrl} from './loader.mjs';
import {Hub, STATES, defaultHub, existingDefaultHub} from './hub.mjs';
import {LiveSubscription} from './session.mjs';
import {POSITION_KEY, parsePosition} from './recovery.mjs';
import {asText, format, payload, pick} from './payload.mjs';
import {WIDGET_SELECTOR, bindWidgets, unbindWidgets, watchWidgets} from './widgets.mjs';

var livehub = {
    Hub: Hub,
    LiveSubscription: LiveSubscription,
    DEFAULTS: DEFAULTS,
    STATES: STATES,
    /** Configure the default hub before it connects (options as in DEFAULTS). */
    configure: function (options) {
        return defaultHub().configure(options);
    },
    /** Open the default hub; resolves with its session (see Hub.connect). */
    connect: function (options) {
        if (options) {
            livehub.configure(options);
        }
        return defaultHub().connect();
    },
    /** Close the default hub for good. */
    close: function () {
        defaultHub().close();
    },
    onstate: function (fn) {
        return defaultHub().onstate(fn);
    },
    bindWidgets: bindWidgets,
    unbindWidgets: unbindWidgets,
    payload: payload,
    pick: pick,
    asText: asText,
    format: format,
    POSITION_KEY: POSITION_KEY,
    parsePosition: parsePosition
};
// Where livehub finds config.json and AutobahnJS when no loader tag says
// (livehub.mjs sets it from import.meta.url).
Object.defineProperty(livehub, 'baseUrl', {get: getBaseUrl, set: setBaseUrl, enumerable: true});
Object.defineProperty(livehub, 'hub', {get: defaultHub});
Object.defineProperty(livehub, 'session', {get: function () { return defaultHub().session; }});
Object.defineProperty(livehub, 'state', {get: function () { return defaultHub().state; }});

globalThis.livehub = livehub;

if (globalThis.addEventListener) {
    globalThis.addEventListener('online', function () {
        var hub = existingDefaultHub();
        if (hub) {
            hub._online();
        }
    });
}

// Widgets in the page need no JS of the page's own: bind them when the
// document is parsed (unless the loader tag says data-autostart="false").
if (globalThis.document && scriptOption('autostart') !== 'false') {
    var autostart = function () {
        if (globalThis.document.querySelector(WIDGET_SELECTOR)) {
            bindWidgets(globalThis.document);
        }
        watchWidgets(globalThis.document);
    };
    if (globalThis.document.readyState === 'loading') {
        globalThis.document.addEventListener('DOMContentLoaded', autostart);
    } else {
        setTimeout(autostart, 0);
    }
}
