/*
 * Where things are and how they are fetched: the loader tag's options, the
 * URL livehub was loaded from, AutobahnJS, config.json and tickets.
 */
import {RECONNECT_DEFAULTS, RECONNECT_OPTIONS} from './reconnect.mjs';

/** Hub options and their defaults (the reconnect ones as in settings.py). */
export var DEFAULTS = Object.assign({
    configUrl: null,            // default: <prefix>/config.json next to this script
    autobahnUrl: null,          // default: <prefix>/static/vendor/autobahn.min.js
    historyPageSize: 500        // events per livehub.history.fetch when recovering
}, RECONNECT_DEFAULTS);

// Where this file was loaded from: read while the bundle is evaluated (null
// when evaluated as a module: livehub.mjs then sets livehub.baseUrl from
// import.meta.url).
var scriptElement = globalThis.document && globalThis.document.currentScript;
var baseUrl = null;

/** The URL of the static folder livehub was loaded from (livehub.baseUrl). */
export function getBaseUrl() {
    return baseUrl;
}

export function setBaseUrl(url) {
    baseUrl = url;
}

/** The static folder: livehub.baseUrl, else the loader tag's, else the default prefix's. */
export function staticBase() {
    if (baseUrl) {
        return baseUrl;
    }
    if (scriptElement && scriptElement.src) {
        return new URL('.', scriptElement.src).href;
    }
    return new URL('/livehub/static/', globalThis.location.href).href;
}

/** The loader tag's data-<name> attribute (null when absent). */
export function scriptOption(name) {
    return scriptElement ? scriptElement.getAttribute('data-' + name) : null;
}

/**
 * Overrides from the loader tag: <script src=livehub.js data-config-url=...
 * data-max-retry-delay=2>.
 */
export function readScriptOptions() {
    var options = {};
    var configUrl = scriptOption('config-url');
    if (configUrl) {
        options.configUrl = configUrl;
    }
    RECONNECT_OPTIONS.forEach(function (name) {
        var raw = scriptOption(name.replace(/_/g, '-'));
        if (raw !== null && raw !== '') {
            options[name] = parseFloat(raw);
        }
    });
    return options;
}

export function warn() {
    if (globalThis.console) {
        globalThis.console.warn.apply(globalThis.console, ['livehub:'].concat([].slice.call(arguments)));
    }
}

/** console.error with the livehub: prefix (for what the page must fix). */
export function logError(message) {
    if (globalThis.console) {
        globalThis.console.error(message);
    }
}

var autobahnPromise = null;

// How to fix a missing AutobahnJS, for the error a page gets (it is not in
// the Python package: it comes from npm at set-up time, see docs/browser.rst).
var AUTOBAHN_FIX = 'Fix: put AutobahnJS next to livehub.js: run `make install` in a ' +
    'pyramid_livehub checkout, or `npm install autobahn-browser@22` and copy ' +
    'node_modules/autobahn-browser/autobahn.min.js into the static/vendor/ folder of the ' +
    'installed pyramid_livehub package (docs: "In the browser: livehub.js"). ' +
    'Or load it from elsewhere: a <script> that defines window.autobahn before livehub.js, ' +
    'or livehub.configure({autobahnUrl: ...}) before livehub.connect().';

/**
 * The error of a page whose AutobahnJS did not load: what is missing, from
 * where, and the fix.  `.code` is 'autobahn_missing', `.url` the URL tried,
 * `.summary` a few words for a status badge.
 */
export function autobahnMissing(url, why) {
    var error = new Error('livehub: AutobahnJS is missing: ' + url + ' ' + why +
                          ', so livehub.js cannot connect. ' + AUTOBAHN_FIX);
    error.code = 'autobahn_missing';
    error.url = url;
    error.summary = 'AutobahnJS missing';
    return error;
}

// A failed <script> tag does not say why; ask the server for the status.
function whyNotLoaded(url) {
    return globalThis.fetch(url, {cache: 'no-store'}).then(function (response) {
        return response.ok ? 'failed to run' : 'answered HTTP ' + response.status;
    }, function () {
        return 'could not be fetched (network error)';
    });
}

/** window.autobahn, loading it from `url` the first time. */
export function loadAutobahn(url) {
    if (globalThis.autobahn) {
        return Promise.resolve(globalThis.autobahn);
    }
    if (!autobahnPromise) {
        autobahnPromise = new Promise(function (resolve, reject) {
            var tag = globalThis.document.createElement('script');
            tag.src = url;
            tag.onload = function () {
                if (globalThis.autobahn) {
                    resolve(globalThis.autobahn);
                } else {
                    autobahnPromise = null;
                    reject(autobahnMissing(url, 'loaded but did not define window.autobahn'));
                }
            };
            tag.onerror = function () {
                autobahnPromise = null;  // a later connect() may try again
                whyNotLoaded(url).then(function (why) {
                    reject(autobahnMissing(url, why));
                });
            };
            globalThis.document.head.appendChild(tag);
        });
    }
    return autobahnPromise;
}

/** GET `url` as JSON; a failure carries .status and the JSON .body if any. */
export function fetchJson(url) {
    return globalThis.fetch(url, {credentials: 'same-origin', cache: 'no-store'})
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

/**
 * A fresh ticket from the ticket view.  It answers 403 {"anonymous": true}
 * to a visitor who is not logged in: such a page connects as anonymous
 * instead (resolves with null).
 */
export function fetchTicket(url) {
    return fetchJson(url).catch(function (error) {
        if (error.status === 403 && error.body && error.body.anonymous === true) {
            return null;
        }
        throw error;
    });
}
