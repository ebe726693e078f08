/*
 * What the hub hands to the page: subscriptions that survive reconnects and
 * a session object that is always the AutobahnJS Session of the moment.
 */
import {initRecovery, splitOptions} from './recovery.mjs';

/**
 * What livehub hands out: a subscription that survives reconnects.  It
 * has the fields of an AutobahnJS Subscription (topic, handler, options,
 * id, active) plus `raw`, the AutobahnJS Subscription of the current
 * session, `error`, the last refusal, and for recovery (recovery.mjs)
 * `streams` (the last position delivered per exact topic) and `recovered`
 * (true after a reconnect recovered everything, false after a gap).
 * `options` are the page's; `wampOptions` what AutobahnJS gets (without
 * livehub's `history`, `since`, `recover`).
 */
export function LiveSubscription(hub, topic, handler, options) {
    var self = this;
    self.hub = hub;
    self.topic = topic;
    self.handler = handler;
    self.options = options || {};
    var split = splitOptions(options);
    self.wampOptions = split.wamp;
    self.livehubOptions = split.own;
    self.id = null;
    self.active = false;
    self.raw = null;
    self.error = null;
    initRecovery(self);
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

/**
 * The session handed to the page: the AutobahnJS Session of the moment,
 * with subscribe/unsubscribe kept alive across reconnects.
 */
export function makeSessionProxy(hub) {
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
            var proto = globalThis.autobahn && globalThis.autobahn.Session && globalThis.autobahn.Session.prototype;
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
