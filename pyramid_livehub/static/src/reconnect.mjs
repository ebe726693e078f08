/*
 * The reconnect policy: the same names, defaults and formula as the Python
 * side (the livehub.*retry* settings, served in config.json when the app
 * serves them).  After the n-th failed attempt in a row (n = 0 for the first)
 * the hub waits
 *
 *   delay_n = min(max_retry_delay, initial_retry_delay * retry_delay_growth ** n)
 *             * (1 + retry_delay_jitter * random())
 *
 * seconds, random() uniform in [0, 1).  Jitter only lengthens a wait, so that
 * many pages that lost the router together do not come back together; the
 * longest wait is max_retry_delay * (1 + retry_delay_jitter).  A successful
 * connect starts again from n = 0.  max_retries: -1 retries forever.
 */

/** Reconnect options and their defaults (those of settings.py). */
export var RECONNECT_DEFAULTS = {
    max_retries: -1,            // -1: forever
    initial_retry_delay: 0.5,   // seconds
    max_retry_delay: 5.0,
    retry_delay_growth: 1.5,
    retry_delay_jitter: 0.1
};

/** The option names, as in the Python settings (without `livehub.`). */
export var RECONNECT_OPTIONS = Object.keys(RECONNECT_DEFAULTS);

/** Seconds to wait after the n-th failed attempt in a row (see above). */
export function retryDelay(n, options, random) {
    var delay = Math.min(options.max_retry_delay,
                         options.initial_retry_delay * Math.pow(options.retry_delay_growth, n));
    return delay * (1 + options.retry_delay_jitter * (random || Math.random)());
}

/** Whether `retries` attempts in a row have used up options.max_retries. */
export function retriesExhausted(retries, options) {
    return options.max_retries !== -1 && retries > options.max_retries;
}
