/*
 * Stream positions and exact recovery (issue 12): nothing missed across a
 * reconnect, with no page code.
 *
 * An event on a history-enabled topic carries its position {epoch, offset}
 * in the reserved kwargs key `livehub_position` (the wire format is in
 * pyramid_livehub/history/__init__.py).  The page's handler gets it as
 * `details.position`, and kwargs without the key.  Per subscription and
 * exact topic (a "stream") livehub remembers the last position it delivered:
 *
 * - after a reconnect, and when a live event skips ahead, it calls
 *   livehub.history.fetch(topic, since, limit, epoch), page by page, and
 *   delivers the missed events in order before any live one; live events
 *   that arrive meanwhile are held, then de-duplicated by offset;
 * - when history cannot cover the gap (trimmed, evicted, the epoch changed,
 *   fetch refused) the first event delivered after it has
 *   `details.recovered === false` and a `livehub:gap` DOM event fires on
 *   document with {topic, epoch, from, to, newEpoch} (to: null when unknown);
 * - a fresh subscription learns where the stream stands with
 *   livehub.history.position(topic), so even a gap before its first event is
 *   recovered;
 * - options of session.subscribe that livehub takes (the rest go to AutobahnJS):
 *   `history: N` delivers the newest N events first (late join);
 *   `since: {epoch, offset}` or "epoch:offset" delivers what came after that
 *   position first (a position the server rendered into the page);
 *   `recover: false` turns all of this off for the subscription.
 *
 * Topics without history answer livehub.history.not_enabled once, and their
 * subscription is left alone from then on.
 */
import {warn} from './loader.mjs';

/** The reserved kwargs key that carries an event's position. */
export var POSITION_KEY = 'livehub_position';

/** session.subscribe options that livehub takes (not passed to AutobahnJS). */
export var LIVEHUB_OPTIONS = ['history', 'since', 'recover'];

var FETCH = 'livehub.history.fetch';
var POSITION = 'livehub.history.position';
var NOT_ENABLED = 'livehub.history.not_enabled';
// The router is up but its history component has not joined yet (a router
// that just started): ask again for a while.
var NOT_YET = 'wamp.error.no_such_procedure';
var NOT_YET_RETRIES = 40;
var NOT_YET_DELAY = 250;  // ms

/**
 * A position from "epoch:offset" or {epoch, offset} (null for null or "").
 */
export function parsePosition(value) {
    if (value === null || value === undefined || value === '') {
        return null;
    }
    if (typeof value === 'string') {
        var at = value.lastIndexOf(':');
        var offset = at > 0 ? Number(value.slice(at + 1)) : NaN;
        if (Number.isInteger(offset) && offset >= 0) {
            return {epoch: value.slice(0, at), offset: offset};
        }
    } else if (typeof value === 'object' && Number.isInteger(value.offset) && value.offset >= 0 &&
               value.epoch !== undefined && value.epoch !== null) {
        return {epoch: String(value.epoch), offset: value.offset};
    }
    throw new Error('livehub: a position is {epoch, offset} or "epoch:offset" ' +
                    '(as livehub.history.position answers), got ' + JSON.stringify(value));
}

/** (AutobahnJS options, livehub options) of session.subscribe's options. */
export function splitOptions(options) {
    var wamp = {};
    var own = {history: 0, since: null, recover: true};
    for (var key in (options || {})) {
        if (LIVEHUB_OPTIONS.indexOf(key) < 0) {
            wamp[key] = options[key];
        }
    }
    options = options || {};
    if (options.history !== undefined && options.history !== null) {
        own.history = Number(options.history);
        if (!Number.isInteger(own.history) || own.history < 0) {
            throw new Error('livehub: history must be a count of events >= 0, got ' +
                            JSON.stringify(options.history));
        }
    }
    own.since = parsePosition(options.since);
    own.recover = options.recover !== false;
    return {wamp: wamp, own: own};
}

function exact(sub) {
    var match = sub.wampOptions.match;
    return !match || match === 'exact';
}

/** Set up a LiveSubscription's recovery state (called by its constructor). */
export function initRecovery(sub) {
    sub.streams = {};        // exact topic -> {epoch, offset, busy, held, gap, run}
    sub.recovered = null;    // true after a recovery, false after a gap
    sub._historyless = false;
    sub._lateJoin = sub.livehubOptions.history > 0 && exact(sub);
    if (sub.livehubOptions.since && exact(sub)) {
        stream(sub, sub.topic, sub.livehubOptions.since);
    }
}

function stream(sub, topic, position) {
    var s = sub.streams[topic];
    if (!s) {
        s = sub.streams[topic] = {epoch: null, offset: 0, busy: false, held: [], gap: null,
                                  run: null};
        if (position) {
            s.epoch = position.epoch;
            s.offset = position.offset;
        }
    }
    return s;
}

/** The session went away: forget held events (a new session fetches them again). */
export function resetRecovery(sub) {
    for (var topic in sub.streams) {
        var s = sub.streams[topic];
        s.busy = false;
        s.held = [];
        s.run = null;
    }
}

/** Before subscribing on a new session: hold the live events of streams about to be fetched. */
export function holdForRecovery(sub) {
    if (!sub.livehubOptions.recover || sub._historyless) {
        return;
    }
    if (sub._lateJoin) {
        stream(sub, sub.topic).busy = true;
    }
    for (var topic in sub.streams) {
        if (sub.streams[topic].epoch !== null) {
            sub.streams[topic].busy = true;
        }
    }
}

/**
 * The subscription is confirmed on `session`: fetch what each stream missed
 * (late join, since, after a reconnect), or learn where a fresh one stands.
 */
export function resume(hub, sub, session) {
    if (!sub.livehubOptions.recover || sub._historyless) {
        return;
    }
    if (sub._lateJoin) {
        lateJoin(hub, sub, session);
        return;
    }
    var topics = Object.keys(sub.streams);
    for (var i = 0; i < topics.length; i++) {
        var s = sub.streams[topics[i]];
        if (s.epoch !== null) {
            recover(hub, sub, session, topics[i], s);
        }
    }
    if (exact(sub) && (!sub.streams[sub.topic] || sub.streams[sub.topic].epoch === null)) {
        baseline(hub, sub, session);
    }
}

/** An EVENT from AutobahnJS: strip the position, then deliver, hold, or drop it. */
export function receive(hub, sub, session, args, kwargs, details) {
    var position = kwargs && kwargs[POSITION_KEY];
    if (position) {
        kwargs = withoutPosition(kwargs);
        // AutobahnJS hands one details object to every handler of the topic: mark a copy
        details = Object.assign(Object.create(Object.getPrototypeOf(details)), details);
        details.position = {epoch: position.epoch, offset: position.offset};
    }
    if (!position || !sub.livehubOptions.recover) {
        deliver(sub, args, kwargs, details);
        return;
    }
    var topic = details.topic || sub.topic;
    accept(hub, sub, session, topic, stream(sub, topic),
           {args: args, kwargs: kwargs, details: details});
}

function accept(hub, sub, session, topic, s, event) {
    var position = event.details.position;
    if (s.busy) {
        s.held.push(event);
        return;
    }
    if (s.epoch === null) {
        take(sub, s, event);  // the first event of a stream nothing was known of
    } else if (position.epoch === s.epoch && position.offset <= s.offset) {
        return;  // delivered already (from history, or a resend)
    } else if (position.epoch === s.epoch && position.offset === s.offset + 1) {
        take(sub, s, event);
    } else {
        // It skipped ahead or the stream started over: fetch what lies between.
        s.held.push(event);
        recover(hub, sub, session, topic, s);
    }
}

function take(sub, s, event) {
    s.epoch = event.details.position.epoch;
    s.offset = event.details.position.offset;
    if (s.gap) {
        event.details.recovered = false;
        s.gap = null;
    }
    deliver(sub, event.args, event.kwargs, event.details);
}

function deliver(sub, args, kwargs, details) {
    try {
        sub.handler(args, kwargs, details);
    } catch (e) {
        warn('handler of', sub.topic, 'failed:', e);
    }
}

function withoutPosition(kwargs) {
    var clean = {};
    for (var key in kwargs) {
        if (key !== POSITION_KEY) {
            clean[key] = kwargs[key];
        }
    }
    return clean;
}

function historyEvent(topic, epoch, event, recovered) {
    var details = {topic: topic, publication: null, position: {epoch: epoch, offset: event.offset},
                   history: true, time: event.time};
    if (recovered) {
        details.recovered = true;
    }
    return {args: event.args || [], kwargs: withoutPosition(event.kwargs || {}), details: details};
}

// session.call; with `patient`, asked again while the router's history
// component is not there yet (a router that just started).
function call(session, procedure, args, kwargs, isCurrent, patient) {
    var tries = 0;
    function attempt() {
        return session.call(procedure, args, kwargs).catch(function (err) {
            if (patient && err && err.error === NOT_YET && tries < NOT_YET_RETRIES &&
                    isCurrent()) {
                tries += 1;
                return new Promise(function (resolve) {
                    setTimeout(resolve, NOT_YET_DELAY);
                }).then(attempt);
            }
            throw err;
        });
    }
    return attempt();
}

function current(hub, sub, session, s, run) {
    return hub.rawSession === session && hub.subscriptions.indexOf(sub) >= 0 &&
        (!s || s.run === run);
}

function errorName(err) {
    return (err && (err.error || err.message)) || String(err);
}

// The topic keeps no history (or the router has none): leave the subscription alone.
function historyless(sub) {
    sub._historyless = true;
    sub._lateJoin = false;
}

/** Fetch what `s` missed after its position, page by page, then release the held events. */
function recover(hub, sub, session, topic, s) {
    if (s.run) {
        return;  // already fetching: the held events wait for it
    }
    var run = s.run = {started: now(), from: s.offset + 1, count: 0, gapped: false};
    s.busy = true;
    var isCurrent = function () { return current(hub, sub, session, s, run); };
    function page() {
        var kwargs = {since: s.offset, epoch: s.epoch, limit: hub.options.historyPageSize};
        return call(session, FETCH, [topic], kwargs, isCurrent, true).then(function (result) {
            if (!isCurrent()) {
                return;
            }
            if (result.epoch !== s.epoch || !result.complete) {
                run.gapped = true;
                gap(sub, topic, s, {epoch: s.epoch, from: s.offset + 1,
                                    to: result.epoch === s.epoch ? result.first - 1 : null,
                                    newEpoch: result.epoch});
                // Go on from the oldest event held in the stream's epoch of now.
                s.epoch = result.epoch;
                s.offset = result.first - 1;
                return page();
            }
            var events = result.events || [];
            for (var i = 0; i < events.length; i++) {
                if (events[i].offset > s.offset) {
                    run.count += 1;
                    take(sub, s, historyEvent(topic, s.epoch, events[i], true));
                }
            }
            if (events.length && s.offset < result.last) {
                return page();
            }
            sub.recovered = !run.gapped;
            dispatch('livehub:recovered', {topic: topic, epoch: s.epoch, from: run.from,
                                           to: s.offset, count: run.count,
                                           ms: now() - run.started, subscription: sub});
            release(hub, sub, session, topic, s);
        });
    }
    page().catch(function (err) {
        if (!isCurrent()) {
            return;
        }
        if (err && err.error === NOT_ENABLED) {
            historyless(sub);
        } else {
            warn('cannot recover', topic, 'after offset', s.offset + ':', errorName(err));
            gap(sub, topic, s, {epoch: s.epoch, from: s.offset + 1, to: null, newEpoch: null});
            s.epoch = null;  // the next event starts the stream again
        }
        release(hub, sub, session, topic, s);
    });
}

function release(hub, sub, session, topic, s) {
    var held = s.held;
    s.held = [];
    s.busy = false;
    s.run = null;
    for (var i = 0; i < held.length; i++) {
        accept(hub, sub, session, topic, s, held[i]);
    }
}

function gap(sub, topic, s, range) {
    s.gap = range;
    sub.recovered = false;
    dispatch('livehub:gap', {topic: topic, epoch: range.epoch, from: range.from, to: range.to,
                             newEpoch: range.newEpoch, subscription: sub});
}

/** Late join: the newest N events first, then live ones. */
function lateJoin(hub, sub, session) {
    var s = stream(sub, sub.topic);
    var run = s.run = {};
    s.busy = true;
    var isCurrent = function () { return current(hub, sub, session, s, run); };
    call(session, FETCH, [sub.topic], {limit: sub.livehubOptions.history}, isCurrent, false)
        .then(function (result) {
            if (!isCurrent()) {
                return;
            }
            sub._lateJoin = false;  // once: after a reconnect it recovers instead
            s.epoch = result.epoch;
            s.offset = result.events.length ? result.events[0].offset - 1 : result.last;
            for (var i = 0; i < result.events.length; i++) {
                take(sub, s, historyEvent(sub.topic, result.epoch, result.events[i], false));
            }
            release(hub, sub, session, sub.topic, s);
        }, function (err) {
            if (!isCurrent()) {
                return;
            }
            quietFailure(sub, err);
            release(hub, sub, session, sub.topic, s);
        });
}

/** Where a fresh stream stands, so that a reconnect before its first event misses nothing. */
function baseline(hub, sub, session) {
    var isCurrent = function () { return current(hub, sub, session, null, null); };
    call(session, POSITION, [sub.topic], {}, isCurrent, false).then(function (position) {
        var s = stream(sub, sub.topic);
        if (isCurrent() && s.epoch === null && !s.busy && position) {
            s.epoch = position.epoch;
            s.offset = position.offset;
        }
    }, function (err) {
        if (isCurrent()) {
            quietFailure(sub, err);
        }
    });
}

// Late join or baseline failed: live events only, for this session.
function quietFailure(sub, err) {
    if (err && err.error === NOT_ENABLED) {
        historyless(sub);  // for good: the topic keeps no history
    } else if (err && err.error === NOT_YET) {
        // no history component on this router (or not yet): try on the next session
    } else if (!sub._warned) {
        sub._warned = true;  // e.g. not allowed to read this topic's history
        warn('no history for', sub.topic + ':', errorName(err));
    }
}

function now() {
    return globalThis.performance ? globalThis.performance.now() : Date.now();
}

function dispatch(name, detail) {
    if (globalThis.document && globalThis.CustomEvent) {
        globalThis.document.dispatchEvent(new globalThis.CustomEvent(name, {detail: detail}));
    }
}
