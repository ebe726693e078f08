/*
 * livehub.mjs: livehub.js as an ES module.
 *
 *   import livehub from '/livehub/static/livehub.mjs';
 *   const session = await livehub.connect();
 *   session.subscribe('app.orders.created', (args, kwargs, details) => { ... });
 *
 * A thin wrapper: livehub.js (the bundle of src/*.mjs, see build.mjs)
 * defines globalThis.livehub when evaluated; this module tells it where it
 * was loaded from (so it finds config.json and AutobahnJS) and re-exports
 * it.  It imports the bundle, not src/index.mjs, so that a page that loads
 * both gets one livehub, one connection.
 */
import './livehub.js';

const livehub = globalThis.livehub;
livehub.baseUrl = new URL('.', import.meta.url).href;

export default livehub;
export const connect = livehub.connect;
export const close = livehub.close;
export const onstate = livehub.onstate;
export const bindWidgets = livehub.bindWidgets;
export const payload = livehub.payload;
export const Hub = livehub.Hub;
