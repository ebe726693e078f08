/*
 * The hub: one connection to the router, kept open and re-opened for the
 * page, with a fresh ticket before every attempt, the connection state, and
 * every subscription restored on each new session, with what it missed
 * meanwhile (recovery.mjs).
 */
import {DEFAULTS, fetchJson, fetchTicket, loadAutobahn, logError, readScriptOptions,
        staticBase, warn} from './loader.mjs';
import {RECONNECT_OPTIONS, retriesExhausted, retryDelay} from './reconnect.mjs';
import {holdForRecovery, receive, resetRecovery, resume} from './recovery.mjs';
import {LiveSubscription, makeSessionProxy} from './session.mjs';

export var STATES = ['connecting', 'connected', 'reconnecting', 'offline'];

/**
 * One connection to the router, kept open and re-opened for the page.
 * Most pages use the default hub behind livehub.connect().
 */
export function Hub(options) {
    this.options = {};
    for (var key in DEFAULTS) {
        this.options[key] = DEFAULTS[key];
    }
    this._pageOptions = {};    // options the page set: config.json does not override them
    this.configure(options);
    this.state = 'offline';
    this.config = null;
    this.connection = null;    // the autobahn.Connection of the current attempt
    this.rawSession = null;    // the autobahn.Session while connected
    this.details = null;       // its welcome details (authid, authrole, authmethod)
    this.subscriptions = [];   // LiveSubscription objects to keep alive
    this.sessionCount = 0;     // sessions opened so far (1 + reconnects)
    this.lastError = null;
    this.failure = null;       // why the hub stopped trying (see _fail), null while it tries
    this._listeners = [];
    this._started = null;
    this._closing = false;
    this._retryCount = 0;      // failed attempts in a row
    this._retryTimer = null;
    this._firstOpen = null;
    this._generation = 0;      // bumped by close(): attempts of an older one give up
    this.session = makeSessionProxy(this);
}

Hub.prototype.STATES = STATES;

/**
 * Set options (as in livehub.DEFAULTS); they take effect from the next
 * attempt and win over the reconnect options config.json may serve.
 */
Hub.prototype.configure = function (options) {
    for (var key in (options || {})) {
        this.options[key] = options[key];
        this._pageOptions[key] = true;
    }
    return this;
};

// The app's reconnect settings (when config.json serves them) replace the
// defaults, not what the page set itself.
Hub.prototype._adoptServerOptions = function (config) {
    var self = this;
    RECONNECT_OPTIONS.forEach(function (name) {
        if (typeof config[name] === 'number' && !self._pageOptions[name]) {
            self.options[name] = config[name];
        }
    });
};

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
    self.failure = null;
    var rejectStart;
    var started = self._started = new Promise(function (resolve, reject) {
        self._firstOpen = resolve;
        rejectStart = reject;
    });
    var base = staticBase();
    var configUrl = new URL(self.options.configUrl || '../config.json', self.options.configUrl
                            ? globalThis.location.href : base).href;
    var autobahnUrl = self.options.autobahnUrl || new URL('vendor/autobahn.min.js', base).href;
    self._setState('connecting');
    loadAutobahn(autobahnUrl).then(function () {
        self._configUrl = configUrl;
        self._attempt();
    }, function (err) {
        // Nothing to retry without AutobahnJS: say so loudly, and let a later
        // connect() start over (the page may load it by other means).
        if (self._started === started) {
            self._started = null;
            self._firstOpen = null;
        }
        self._setState('offline');
        self._fail(err);
        rejectStart(err);
    });
    return started;
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
    this.failure = null;
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

/**
 * The hub stopped trying: log `err` as a console error, keep it in
 * hub.failure and hub.lastError, and fire a `livehub:error` DOM event on
 * document (detail: error, code, message, hub) for the page and the status
 * widgets.  Called after the state became 'offline'.
 */
Hub.prototype._fail = function (err) {
    this.lastError = err;
    this.failure = err;
    logError(err.message || String(err));
    if (globalThis.document && globalThis.CustomEvent) {
        globalThis.document.dispatchEvent(new globalThis.CustomEvent('livehub:error', {
            detail: {error: err, code: err.code || 'error', message: err.message, hub: this}
        }));
    }
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
    if (globalThis.document && globalThis.CustomEvent) {
        globalThis.document.dispatchEvent(new globalThis.CustomEvent('livehub:state', {
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
        self._adoptServerOptions(config);
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
    var connection = new globalThis.autobahn.Connection(options);
    self.connection = connection;
    connection.onopen = function (session, details) {
        if (connection !== self.connection) {
            return;
        }
        self.rawSession = session;
        self.details = details;  // authid, authrole, authmethod of this session
        self.sessionCount += 1;
        self._retryCount = 0;
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
    if (retriesExhausted(self._retryCount, opts)) {
        var last = self.lastError;
        var gaveUp = new Error('livehub: gave up after ' + opts.max_retries +
                               ' reconnect attempts (max_retries)' +
                               (last ? '; last error: ' + (last.message || last) : ''));
        gaveUp.code = 'gave_up';
        gaveUp.summary = 'gave up reconnecting';
        self._setState('offline');
        self._fail(gaveUp);
        return;
    }
    if (globalThis.navigator && globalThis.navigator.onLine === false) {
        // The browser knows it is offline; the 'online' event retries.
        self._setState('offline');
        return;
    }
    var delay = retryDelay(self._retryCount - 1, opts);  // the formula in reconnect.mjs
    self._setState(self.sessionCount ? 'reconnecting' : 'connecting');
    clearTimeout(self._retryTimer);
    self._retryTimer = setTimeout(function () {
        self._attempt();
    }, Math.max(0, delay) * 1000);
};

// The browser came back online: retry now instead of waiting.
Hub.prototype._online = function () {
    if (this._started && !this._closing && !this.connection) {
        clearTimeout(this._retryTimer);
        this._retryCount = 0;
        this.failure = null;
        this._setState(this.sessionCount ? 'reconnecting' : 'connecting');
        this._attempt();
    }
};

Hub.prototype._markInactive = function () {
    for (var i = 0; i < this.subscriptions.length; i++) {
        this.subscriptions[i].active = false;
        this.subscriptions[i].raw = null;
        resetRecovery(this.subscriptions[i]);
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
    holdForRecovery(sub);
    var handler = function (args, kwargs, details) {
        receive(self, sub, session, args, kwargs, details);
    };
    return session.subscribe(sub.topic, handler, sub.wampOptions).then(function (raw) {
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
        resume(self, sub, session);
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

var theHub = null;

/** The hub behind livehub.connect(), made on first use with the loader tag's options. */
export function defaultHub() {
    if (!theHub) {
        theHub = new Hub(readScriptOptions());
    }
    return theHub;
}

/** The default hub if it was made, else null (nothing to wake). */
export function existingDefaultHub() {
    return theHub;
}
