/*
 * Live widgets: elements with data-livehub-feed / -value / -status
 * attributes (rendered by pyramid_livehub.widgets) are bound to a hub without
 * any hand-written JS, also when they enter the page later, and unsubscribed
 * when they leave it.  Payloads are always written with textContent, so an
 * event carrying "<script>" shows as text.
 *
 * On history-enabled topics (recovery.mjs) a widget subscribes from the
 * position the server rendered (data-livehub-since="epoch:offset"), else
 * with the newest data-livehub-history events first; a value widget asks
 * for the newest one by default, so it shows the latest value at once.
 */
import {defaultHub} from './hub.mjs';
import {asText, format, payload, pick} from './payload.mjs';
import {parsePosition} from './recovery.mjs';
import {warn} from './loader.mjs';

export var WIDGET_SELECTOR = '[data-livehub-feed],[data-livehub-value],[data-livehub-status]';

function dispatchUpdate(element, detail) {
    if (globalThis.CustomEvent) {
        element.dispatchEvent(new globalThis.CustomEvent('livehub:update', {
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
        // an event from history shows when it was published, a live one when it came
        var now = details && details.time ? new Date(details.time * 1000) : new Date();
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

// The subscribe options a widget's data- attributes ask for.
function widgetOptions(element, match) {
    var options = {};
    if (match) {
        options.match = match;
    }
    var since = element.getAttribute('data-livehub-since');
    var history = element.getAttribute('data-livehub-history');
    if (since) {
        try {
            options.since = parsePosition(since);
            return options;
        } catch (e) {
            warn(e.message);
        }
    }
    if (history) {
        options.history = parseInt(history, 10);
    }
    return options;
}

// A widget's subscription, ended when the widget leaves the page.
function widgetSubscribe(hub, element, topic, match, handler) {
    var sub = hub._track(topic, handler, widgetOptions(element, match));
    sub._promise.catch(function () {});  // a refusal is logged by the hub
    element.__livehubUnbind = function () {
        hub.unsubscribe(sub).catch(function () {});
    };
}

// The status badge: the state as text and data-state; when the hub stopped
// trying (AutobahnJS missing, retries used up) the reason too, as text
// (data-livehub-label-error overrides it), title and data-error.
function bindStatus(hub, element) {
    function show(state) {
        var failure = state === 'offline' ? hub.failure : null;
        var label = element.getAttribute('data-livehub-label-' + state) || state;
        element.setAttribute('data-state', state);
        if (failure) {
            label = element.getAttribute('data-livehub-label-error') ||
                label + ': ' + (failure.summary || 'error') + ' (see the browser console)';
            element.setAttribute('data-error', failure.code || 'error');
            element.setAttribute('title', failure.message || String(failure));
        } else if (element.hasAttribute('data-error')) {
            element.removeAttribute('data-error');
            element.removeAttribute('title');
        }
        element.textContent = label;
    }
    function onError(event) {
        if (event.detail && event.detail.hub === hub) {
            show(hub.state);
        }
    }
    show(hub.state);
    var stopStates = hub.onstate(show);
    globalThis.document.addEventListener('livehub:error', onError);
    element.__livehubUnbind = function () {
        stopStates();
        globalThis.document.removeEventListener('livehub:error', onError);
    };
}

/**
 * Bind every live widget under `root` (default: the document) to `hub`
 * (default: the default hub) and connect.  Elements already bound are
 * skipped, so calling it again after adding widgets is safe.
 */
export function bindWidgets(root, hub) {
    root = root || globalThis.document;
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
export function unbindWidgets(root) {
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
export function watchWidgets(doc) {
    if (!globalThis.MutationObserver) {
        return;
    }
    new globalThis.MutationObserver(function (mutations) {
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
