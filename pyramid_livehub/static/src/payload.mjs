/*
 * Payload helpers, shared by the widgets and by pages (livehub.payload,
 * livehub.pick, livehub.asText, livehub.format).
 */

/**
 * The "payload" of an event, as the Python side defines it (a consumer's
 * Message.body): its first positional argument, else its keyword
 * arguments.  publish('t', {'a': 1}) and publish('t', a=1) both give
 * {a: 1}; a bridged broker message gives its decoded body.
 */
export function payload(args, kwargs) {
    if (args && args.length) {
        return args[0];
    }
    return kwargs && Object.keys(kwargs).length ? kwargs : null;
}

/** Value at a dotted path ("user.name", "items.0") of a payload. */
export function pick(value, path) {
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
export function asText(value) {
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
export function format(template, value) {
    return String(template).replace(/\{([^{}]*)\}/g, function (match, path) {
        return asText(pick(value, path.trim()));
    });
}
