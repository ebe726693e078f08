/*
 * livehub.js: the browser side of pyramid_livehub, on top of AutobahnJS.
 *
 *   <script src="/livehub/static/vendor/autobahn.min.js"></script>
 *   <script src="/livehub/static/livehub.js"></script>
 *   <script>
 *     livehub.connect().then(function (session) {
 *       session.subscribe('app.orders.created', function (args, kwargs, details) { ... });
 *     });
 *   </script>
 *
 * What it adds to AutobahnJS:
 *
 * - it reads `<prefix>/config.json` (WebSocket URL, realm, auth) from the
 *   app that served the page;
 * - the session it hands out is the AutobahnJS session of the moment: every
 *   Session method and property works as AutobahnJS documents, and every
 *   subscription made through it is restored on the new session after a
 *   reconnect (subscribe() while offline is queued until the next session);
 * - it reconnects with backoff after any loss, including a router shutdown
 *   and a refused ticket, fetching a fresh ticket before every attempt when
 *   the app enables ticket authentication (a visitor the ticket view calls
 *   anonymous, `403 {"anonymous": true}`, connects as anonymous);
 * - the connection state (connecting / connected / reconnecting / offline)
 *   is observable: livehub.state, livehub.onstate(fn) and a `livehub:state`
 *   DOM event on document;
 * - live widgets: elements with data-livehub-feed / -value / -status
 *   attributes (rendered by pyramid_livehub.widgets) are bound without any
 *   hand-written JS, also when they enter the page later, and unsubscribed
 *   when they leave it.  Payloads are always written with textContent, so an
 *   event carrying "<script>" shows as text.
 *
 * Loaded as a plain script it defines window.livehub; livehub.mjs re-exports
 * the same object as an ES module.
 */
(function (global) {
    'use strict';

    var STATES = ['connecting', 'connected', 'reconnecting', 'offline'];

    // Same names and defaults as the Python publisher's reconnect settings.
    var DEFAULTS = {
        configUrl: null,            // default: <prefix>/config.json next to this script
        autobahnUrl: null,          // default: <prefix>/static/vendor/autobahn.min.js
        max_retries: -1,            // -1: forever
        initial_retry_delay: 0.5,   // seconds
        max_retry_delay: 5.0,
        retry_delay_growth: 1.5,
        retry_delay_jitter: 0.1
    };

    // Where this file was loaded from (null when evaluated as a module:
    // livehub.mjs then sets livehub.baseUrl from import.meta.url).
    var scriptElement = global.document && global.document.currentScript;

    function staticBase() {
        if (livehub.baseUrl) {
            return livehub.baseUrl;
        }
        if (scriptElement && scriptElement.src) {
            return new URL('.', scriptElement.src).href;
        }
        return new URL('/livehub/static/', global.location.href).href;
    }

    function scriptOption(name) {
        return scriptElement ? scriptElement.getAttribute('data-' + name) : null;
    }

    function warn() {
        if (global.console) {
            global.console.warn.apply(global.console, ['livehub:'].concat([].slice.call(arguments)));
        }
    }

    // -- loading AutobahnJS and the config ---------------------------------

    var autobahnPromise = null;

    function loadAutobahn(url) {
        if (global.autobahn) {
            return Promise.resolve(global.autobahn);
        }
        if (!autobahnPromise) {
            autobahnPromise = new Promise(function (resolve, reject) {
                var tag = global.document.createElement('script');
                tag.src = url;
                tag.onload = function () {
                    if (global.autobahn) {
                        resolve(global.autobahn);
                    } else {
                        reject(new Error('livehub: ' + url + ' did not define window.autobahn'));
                    }
                };
                tag.onerror = function () {
                    autobahnPromise = null;
                    reject(new Error('livehub: cannot load AutobahnJS from ' + url +
                                     ' (run `make js` to install it)'));
                };
                global.document.head.appendChild(tag);
            });
        }
        return autobahnPromise;
    }

    function fetchJson(url) {
        return global.fetch(url, {credentials: 'same-origin', cache: 'no-store'})
            .then(function (response) {
                if (!response.ok) {
                    var error = new Error('livehub: GET ' + url + ' answered ' + response.status);
                    error.status = response.status;
                    return response.json().then(function (body) {
                        error.body = body;
                        throw error;
                    }, function () {
                        throw error;
                    });
                }
                return response.json();
            });
    }

    // The ticket view answers 403 {"anonymous": true} to a visitor who is not
    // logged in: such a page connects as anonymous instead.
    function fetchTicket(url) {
        return fetchJson(url).catch(function (error) {
            if (error.status === 403 && error.body && error.body.anonymous === true) {
                return null;
            }
            throw error;
        });
    }

    // -- payload helpers (shared by widgets and pages) ----------------------

    /**
     * The "payload" of an event, as the Python side defines it (a consumer's
     * Message.body): its first positional argument, else its keyword
     * arguments.  publish('t', {'a': 1}) and publish('t', a=1) both give
     * {a: 1}; a bridged broker message gives its decoded body.
     */
    function payload(args, kwargs) {
        if (args && args.length) {
            return args[0];
        }
        return kwargs && Object.keys(kwargs).length ? kwargs : null;
    }

    /** Value at a dotted path ("user.name", "items.0") of a payload. */
    function pick(value, path) {
        if (!path) {
            return value;
        }
        var parts = String(path).split('.');
        for (var i = 0; i < parts.length; i++) {
            // Own fields only: "constructor" or "__proto__" find nothing.
            if (value === null || typeof value !== 'object' ||
                    !Object.prototype.hasOwnProperty.call(value, parts[i])) {
                return undefined;
            }
            value = value[parts[i]];
        }
        return value;
    }

    /** Plain text of a value: strings as they are, the rest as JSON. */
    function asText(value) {
        if (value === null || value === undefined) {
            return '';
        }
        if (typeof value === 'string') {
            return value;
        }
        if (typeof value === 'number' || typeof value === 'boolean') {
            return String(value);
        }
        var json = JSON.stringify(value);
        return json === undefined ? '' : json;
    }

    /** "{author}: {text}" with fields of the payload, as plain text. */
    function format(template, value) {
        return String(template).replace(/\{([^{}]*)\}/g, function (match, path) {
            return asText(pick(value, path.trim()));
        });
    }

    // -- the hub -------------------------------------------------------------

    /**
     * One connection to the router, kept open and re-opened for the page.
     * Most pages use the default hub behind livehub.connect().
     */
    function Hub(options) {
        this.options = {};
        var key;
        for (key in DEFAULTS) {
            this.options[key] = DEFAULTS[key];
        }
        for (key in (options || {})) {
            this.options[key] = options[key];
        }
        this.state = 'offline';
        this.config = null;
        this.connection = null;    // the autobahn.Connection of the current attempt
        this.rawSession = null;    // the autobahn.Session while connected
        this.details = null;       // its welcome details (authid, authrole, authmethod)
        this.subscriptions = [];   // LiveSubscription objects to keep alive
        this.sessionCount = 0;     // sessions opened so far (1 + reconnects)
        this.lastError = null;
        this._listeners = [];
        this._started = null;
        this._closing = false;
        this._retryCount = 0;
        this._retryDelay = null;
        this._retryTimer = null;
        this._firstOpen = null;
        this._generation = 0;      // bumped by close(): attempts of an older one give up
        this.session = makeSessionProxy(this);
    }

    Hub.prototype.STATES = STATES;

    /**
     * Open the connection (once); resolves with the session proxy when the
     * first session is open.  Calling it again returns the same promise.
     */
    Hub.prototype.connect = function () {
        var self = this;
        if (self._started) {
            return self._started;
        }
        self._closing = false;
        self._started = new Promise(function (resolve) {
            self._firstOpen = resolve;
        });
        var base = staticBase();
        var configUrl = new URL(self.options.configUrl || '../config.json', self.options.configUrl
                                ? global.location.href : base).href;
        var autobahnUrl = self.options.autobahnUrl || new URL('vendor/autobahn.min.js', base).href;
        self._setState('connecting');
        loadAutobahn(autobahnUrl).then(function () {
            self._configUrl = configUrl;
            self._attempt();
        }, function (err) {
            self.lastError = err;
            warn(err.message);
            self._setState('offline');
        });
        return self._started;
    };

    /** Close the connection for good (no reconnect); subscriptions are kept. */
    Hub.prototype.close = function () {
        this._closing = true;
        this._generation += 1;
        clearTimeout(this._retryTimer);
        var connection = this.connection;
        this.connection = null;
        this.rawSession = null;
        if (connection) {
            try {
                connection.close('wamp.close.normal', 'page closed the connection');
            } catch (e) { /* already closed */ }
        }
        this._markInactive();
        this._started = null;
        this._setState('offline');
    };

    /** Register fn(state, hub) for state changes; returns a function that removes it. */
    Hub.prototype.onstate = function (fn) {
        var listeners = this._listeners;
        listeners.push(fn);
        return function () {
            var at = listeners.indexOf(fn);
            if (at >= 0) {
                listeners.splice(at, 1);
            }
        };
    };

    Hub.prototype._setState = function (state) {
        if (this.state === state) {
            return;
        }
        this.state = state;
        var listeners = this._listeners.slice();
        for (var i = 0; i < listeners.length; i++) {
            try {
                listeners[i](state, this);
            } catch (e) {
                warn('state listener failed', e);
            }
        }
        if (global.document && global.CustomEvent) {
            global.document.dispatchEvent(new global.CustomEvent('livehub:state', {
                detail: {state: state, hub: this}
            }));
        }
    };

    // One connection attempt: (config) -> (fresh ticket) -> AutobahnJS connection.
    Hub.prototype._attempt = function () {
        var self = this;
        var generation = self._generation;
        if (self._closing) {
            return;
        }
        var configPromise = self.config ? Promise.resolve(self.config) : fetchJson(self._configUrl);
        configPromise.then(function (config) {
            self.config = config;
            if (config.auth && config.auth.method === 'ticket') {
                // Tickets expire: fetch a fresh one before every (re)connect.
                return fetchTicket(new URL(config.auth.ticket_url, self._configUrl).href)
                    .then(function (ticket) {
                        return {config: config, ticket: ticket};
                    });
            }
            if (config.auth) {
                throw new Error('livehub: unsupported auth method ' + JSON.stringify(config.auth));
            }
            return {config: config, ticket: null};
        }).then(function (prepared) {
            if (self._closing || generation !== self._generation) {
                return;  // closed (and maybe reopened) while this attempt was fetching
            }
            self._open(prepared.config, prepared.ticket);
        }).catch(function (err) {
            if (generation !== self._generation) {
                return;
            }
            self.lastError = err;
            warn('cannot connect:', err.message || err);
            self._scheduleRetry();
        });
    };

    Hub.prototype._open = function (config, ticket) {
        var self = this;
        var options = {
            url: config.url,
            realm: config.realm,
            // livehub does the retrying (with a fresh ticket each time), so
            // this connection tries exactly once.
            max_retries: 0,
            retry_if_unreachable: false
        };
        if (ticket) {
            options.authmethods = ['ticket'];
            options.authid = ticket.authid;
            options.onchallenge = function (session, method) {
                if (method !== 'ticket') {
                    throw new Error('livehub: router asked for ' + method + ', expected ticket');
                }
                return ticket.ticket;
            };
        }
        var connection = new global.autobahn.Connection(options);
        self.connection = connection;
        connection.onopen = function (session, details) {
            if (connection !== self.connection) {
                return;
            }
            self.rawSession = session;
            self.details = details;  // authid, authrole, authmethod of this session
            self.sessionCount += 1;
            self._retryCount = 0;
            self._retryDelay = null;
            self.lastError = null;
            self._restore(session);
            self._setState('connected');
            if (self._firstOpen) {
                self._firstOpen(self.session);
                self._firstOpen = null;
            }
        };
        connection.onclose = function (reason, details) {
            if (connection !== self.connection) {
                return true;
            }
            self.connection = null;
            self.rawSession = null;
            self._markInactive();
            if (details && details.reason) {
                self.lastError = new Error('livehub: ' + reason + ': ' + details.reason +
                                           (details.message ? ' (' + details.message + ')' : ''));
            }
            if (!self._closing) {
                self._scheduleRetry();
            }
            return true;  // never let AutobahnJS retry on its own
        };
        connection.open();
    };

    Hub.prototype._scheduleRetry = function () {
        var self = this;
        var opts = self.options;
        if (self._closing) {
            return;
        }
        self._retryCount += 1;
        if (opts.max_retries !== -1 && self._retryCount > opts.max_retries) {
            warn('giving up after', opts.max_retries, 'reconnect attempts');
            self._setState('offline');
            return;
        }
        if (global.navigator && global.navigator.onLine === false) {
            // The browser knows it is offline; the 'online' event retries.
            self._setState('offline');
            return;
        }
        var delay = self._retryDelay === null ? opts.initial_retry_delay
                                              : self._retryDelay * opts.retry_delay_growth;
        delay = Math.min(delay, opts.max_retry_delay);
        self._retryDelay = delay;
        var jittered = delay * (1 + opts.retry_delay_jitter * (Math.random() * 2 - 1));
        self._setState(self.sessionCount ? 'reconnecting' : 'connecting');
        clearTimeout(self._retryTimer);
        self._retryTimer = setTimeout(function () {
            self._attempt();
        }, Math.max(0, jittered) * 1000);
    };

    // The browser came back online: retry now instead of waiting.
    Hub.prototype._online = function () {
        if (this._started && !this._closing && !this.connection) {
            clearTimeout(this._retryTimer);
            this._retryCount = 0;
            this._retryDelay = null;
            this._setState(this.sessionCount ? 'reconnecting' : 'connecting');
            this._attempt();
        }
    };

    Hub.prototype._markInactive = function () {
        for (var i = 0; i < this.subscriptions.length; i++) {
            this.subscriptions[i].active = false;
            this.subscriptions[i].raw = null;
        }
    };

    // Subscribe everything the page asked for on a new session.
    Hub.prototype._restore = function (session) {
        var subs = this.subscriptions.slice();
        for (var i = 0; i < subs.length; i++) {
            this._subscribeOn(session, subs[i]);
        }
    };

    Hub.prototype._subscribeOn = function (session, sub) {
        var self = this;
        return session.subscribe(sub.topic, sub.handler, sub.options).then(function (raw) {
            if (self.subscriptions.indexOf(sub) < 0 || session !== self.rawSession) {
                // Unsubscribed, or the session went away, while this was in flight.
                if (session.isOpen) {
                    session.unsubscribe(raw).catch(function () {});
                }
                return sub;
            }
            sub.raw = raw;
            sub.id = raw.id;
            sub.active = true;
            sub.error = null;
            sub._settle(null);
            return sub;
        }, function (err) {
            // Kept in the list: a later session may allow it.
            sub.error = err;
            warn('cannot subscribe to', sub.topic, err && (err.error || err.message || err));
            sub._settle(err);
            throw err;
        });
    };

    /**
     * Like AutobahnJS Session.subscribe, and kept alive across reconnects.
     * Resolves with a LiveSubscription once the router confirmed it (after
     * the next connect when called while offline).
     */
    Hub.prototype.subscribe = function (topic, handler, options) {
        return this._track(topic, handler, options)._promise;
    };

    // Remember a subscription (made now if connected) and return it at once.
    Hub.prototype._track = function (topic, handler, options) {
        var sub = new LiveSubscription(this, topic, handler, options);
        this.subscriptions.push(sub);
        if (this.rawSession && this.rawSession.isOpen) {
            this._subscribeOn(this.rawSession, sub).catch(function () {});
        }
        return sub;
    };

    /** Stop a LiveSubscription (or an AutobahnJS Subscription) and forget it. */
    Hub.prototype.unsubscribe = function (subscription) {
        var at = this.subscriptions.indexOf(subscription);
        if (at < 0) {
            for (var i = 0; i < this.subscriptions.length; i++) {
                if (this.subscriptions[i].raw === subscription) {
                    at = i;
                    subscription = this.subscriptions[i];
                }
            }
        }
        if (at < 0) {
            return Promise.reject(new Error('livehub: not a subscription of this hub'));
        }
        this.subscriptions.splice(at, 1);
        var raw = subscription.raw;
        subscription.active = false;
        subscription.raw = null;
        if (raw && this.rawSession && this.rawSession.isOpen) {
            return this.rawSession.unsubscribe(raw);
        }
        return Promise.resolve(true);
    };

    /**
     * What livehub hands out: a subscription that survives reconnects.  It
     * has the fields of an AutobahnJS Subscription (topic, handler, options,
     * id, active) plus `raw`, the AutobahnJS Subscription of the current
     * session, and `error`, the last refusal.
     */
    function LiveSubscription(hub, topic, handler, options) {
        var self = this;
        self.hub = hub;
        self.topic = topic;
        self.handler = handler;
        self.options = options || {};
        self.id = null;
        self.active = false;
        self.raw = null;
        self.error = null;
        self._promise = new Promise(function (resolve, reject) {
            self._settle = function (err) {
                self._settle = function () {};
                if (err) {
                    reject(err);
                } else {
                    resolve(self);
                }
            };
        });
    }

    LiveSubscription.prototype.unsubscribe = function () {
        return this.hub.unsubscribe(this);
    };

    // The session handed to the page: the AutobahnJS Session of the moment,
    // with subscribe/unsubscribe kept alive across reconnects.
    function makeSessionProxy(hub) {
        var own = {
            subscribe: function (topic, handler, options) {
                return hub.subscribe(topic, handler, options);
            },
            unsubscribe: function (subscription) {
                return hub.unsubscribe(subscription);
            }
        };
        var target = {};
        if (typeof Proxy === 'undefined') {
            return own;
        }
        return new Proxy(target, {
            get: function (unused, name) {
                if (Object.prototype.hasOwnProperty.call(own, name)) {
                    return own[name];
                }
                if (name === 'hub') {
                    return hub;
                }
                if (name === 'subscriptions') {
                    return hub.subscriptions.slice();
                }
                var raw = hub.rawSession;
                if (raw) {
                    var value = raw[name];
                    return typeof value === 'function' ? value.bind(raw) : value;
                }
                if (name === 'isOpen') {
                    return false;
                }
                var proto = global.autobahn && global.autobahn.Session && global.autobahn.Session.prototype;
                if (proto && typeof proto[name] === 'function') {
                    return function () {
                        return Promise.reject(new Error('livehub: not connected (state ' +
                                                        hub.state + '); ' + String(name) +
                                                        '() needs an open session'));
                    };
                }
                return undefined;
            }
        });
    }

    // -- live widgets ----------------------------------------------------------

    var WIDGET_SELECTOR = '[data-livehub-feed],[data-livehub-value],[data-livehub-status]';

    function dispatchUpdate(element, detail) {
        if (global.CustomEvent) {
            element.dispatchEvent(new global.CustomEvent('livehub:update', {
                bubbles: true, detail: detail
            }));
        }
    }

    function eventText(element, value) {
        var template = element.getAttribute('data-livehub-format');
        if (template) {
            return format(template, value);
        }
        return asText(pick(value, element.getAttribute('data-livehub-field')));
    }

    function bindFeed(hub, element) {
        var topic = element.getAttribute('data-livehub-feed');
        var limit = parseInt(element.getAttribute('data-livehub-limit') || '20', 10);
        var match = element.getAttribute('data-livehub-match');
        var doc = element.ownerDocument;
        widgetSubscribe(hub, element, topic, match, function (args, kwargs, details) {
            var value = payload(args, kwargs);
            var item = doc.createElement('li');
            item.className = 'livehub-item';
            var time = doc.createElement('time');
            var now = new Date();
            time.className = 'livehub-time';
            time.dateTime = now.toISOString();
            time.textContent = now.toLocaleTimeString();
            var text = doc.createElement('span');
            text.className = 'livehub-text';
            text.textContent = eventText(element, value);  // text, never HTML
            item.appendChild(time);
            item.appendChild(doc.createTextNode(' '));
            item.appendChild(text);
            var empty = element.querySelector('.livehub-empty');
            if (empty) {
                element.removeChild(empty);
            }
            element.insertBefore(item, element.firstChild);
            var items = element.querySelectorAll('.livehub-item');
            for (var i = limit; i < items.length; i++) {
                element.removeChild(items[i]);
            }
            dispatchUpdate(element, {topic: (details && details.topic) || topic, payload: value,
                                     args: args, kwargs: kwargs});
        });
    }

    function bindValue(hub, element) {
        var topic = element.getAttribute('data-livehub-value');
        var match = element.getAttribute('data-livehub-match');
        widgetSubscribe(hub, element, topic, match, function (args, kwargs, details) {
            var value = payload(args, kwargs);
            element.textContent = eventText(element, value);  // text, never HTML
            dispatchUpdate(element, {topic: (details && details.topic) || topic, payload: value,
                                     args: args, kwargs: kwargs});
        });
    }

    // A widget's subscription, ended when the widget leaves the page.
    function widgetSubscribe(hub, element, topic, match, handler) {
        var sub = hub._track(topic, handler, match ? {match: match} : undefined);
        sub._promise.catch(function () {});  // a refusal is logged by the hub
        element.__livehubUnbind = function () {
            hub.unsubscribe(sub).catch(function () {});
        };
    }

    function bindStatus(hub, element) {
        function show(state) {
            var label = element.getAttribute('data-livehub-label-' + state) || state;
            element.setAttribute('data-state', state);
            element.textContent = label;
        }
        show(hub.state);
        element.__livehubUnbind = hub.onstate(show);
    }

    /**
     * Bind every live widget under `root` (default: the document) to `hub`
     * (default: the default hub) and connect.  Elements already bound are
     * skipped, so calling it again after adding widgets is safe.
     */
    function bindWidgets(root, hub) {
        root = root || global.document;
        hub = hub || defaultHub();
        var elements = widgetsUnder(root);
        for (var i = 0; i < elements.length; i++) {
            var element = elements[i];
            if (element.__livehubBound) {
                continue;
            }
            element.__livehubBound = true;
            if (element.hasAttribute('data-livehub-feed')) {
                bindFeed(hub, element);
            } else if (element.hasAttribute('data-livehub-value')) {
                bindValue(hub, element);
            } else {
                bindStatus(hub, element);
            }
        }
        hub.connect().catch(function () {});
        return hub;
    }

    /**
     * Undo bindWidgets for every widget under `root` (and `root` itself):
     * their subscriptions end.  Called for widgets removed from the page.
     */
    function unbindWidgets(root) {
        var elements = widgetsUnder(root);
        for (var i = 0; i < elements.length; i++) {
            var element = elements[i];
            if (element.__livehubBound) {
                element.__livehubBound = false;
                element.__livehubUnbind();
            }
        }
    }

    // `root` itself when it is a widget, then the widgets inside it.
    function widgetsUnder(root) {
        var found = [];
        if (root.matches && root.matches(WIDGET_SELECTOR)) {
            found.push(root);
        }
        if (root.querySelectorAll) {
            var inside = root.querySelectorAll(WIDGET_SELECTOR);
            for (var i = 0; i < inside.length; i++) {
                found.push(inside[i]);
            }
        }
        return found;
    }

    // Widgets that arrive later (fetched HTML, htmx swaps, a framework's
    // rendering) are bound when they enter the page, and their subscriptions
    // end when they leave it, so swapped fragments never pile up subscriptions.
    function watchWidgets(doc) {
        if (!global.MutationObserver) {
            return;
        }
        new global.MutationObserver(function (mutations) {
            for (var i = 0; i < mutations.length; i++) {
                var removed = mutations[i].removedNodes;
                for (var j = 0; j < removed.length; j++) {
                    if (removed[j].nodeType === 1 && !removed[j].isConnected) {
                        unbindWidgets(removed[j]);
                    }
                }
                var added = mutations[i].addedNodes;
                for (var k = 0; k < added.length; k++) {
                    if (added[k].nodeType === 1 && added[k].isConnected &&
                            widgetsUnder(added[k]).length) {
                        bindWidgets(added[k]);
                    }
                }
            }
        }).observe(doc.documentElement, {childList: true, subtree: true});
    }

    // -- the public object ----------------------------------------------------

    var theHub = null;

    function defaultHub() {
        if (!theHub) {
            theHub = new Hub(readScriptOptions());
        }
        return theHub;
    }

    // Overrides from the loader tag: <script src=livehub.js data-config-url=...
    // data-max-retry-delay=2>.
    function readScriptOptions() {
        var options = {};
        var configUrl = scriptOption('config-url');
        if (configUrl) {
            options.configUrl = configUrl;
        }
        ['max_retries', 'initial_retry_delay', 'max_retry_delay', 'retry_delay_growth',
         'retry_delay_jitter'].forEach(function (name) {
            var raw = scriptOption(name.replace(/_/g, '-'));
            if (raw !== null && raw !== '') {
                options[name] = parseFloat(raw);
            }
        });
        return options;
    }

    var livehub = {
        Hub: Hub,
        LiveSubscription: LiveSubscription,
        DEFAULTS: DEFAULTS,
        STATES: STATES,
        baseUrl: null,
        /** Configure the default hub before it connects (options as in DEFAULTS). */
        configure: function (options) {
            var hub = defaultHub();
            for (var key in options) {
                hub.options[key] = options[key];
            }
            return hub;
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
        format: format
    };
    Object.defineProperty(livehub, 'hub', {get: defaultHub});
    Object.defineProperty(livehub, 'session', {get: function () { return defaultHub().session; }});
    Object.defineProperty(livehub, 'state', {get: function () { return defaultHub().state; }});

    global.livehub = livehub;

    if (global.addEventListener) {
        global.addEventListener('online', function () {
            if (theHub) {
                theHub._online();
            }
        });
    }

    // Widgets in the page need no JS of the page's own: bind them when the
    // document is parsed (unless the loader tag says data-autostart="false").
    if (global.document && scriptOption('autostart') !== 'false') {
        var autostart = function () {
            if (global.document.querySelector(WIDGET_SELECTOR)) {
                bindWidgets(global.document);
            }
            watchWidgets(global.document);
        };
        if (global.document.readyState === 'loading') {
            global.document.addEventListener('DOMContentLoaded', autostart);
        } else {
            setTimeout(autostart, 0);
        }
    }
})(typeof window !== 'undefined' ? window : globalThis);
