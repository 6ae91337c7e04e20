/*
 * The browser tracker, served by `events collect` at /v1/tracker.js (whitespace-minified; a unit test keeps it
 * under 3 KiB). A page includes it with one tag:
 *   <script src="https://collector.example/v1/tracker.js" data-write-key="…" async></script>
 * It records PAGE_VIEW on load, CLICK on links and buttons, FORM_SUBMIT, and events.track(type, metadata).
 * user_id: an anonymous UUID kept in localStorage; metadata.session_id: a UUID renewed after 30 minutes without
 * an event. Events leave in batches (20, or after 1 s) as text/plain, which needs no CORS preflight; a 5xx or a
 * network error puts the batch back and retries with backoff (1 s doubling to 60 s). On pagehide (and when the
 * page is hidden) what is queued goes with navigator.sendBeacon; what a beacon cannot take is kept in
 * localStorage and sent by the next page. Every event carries its own event_id and event_time, so a batch sent
 * twice stores each event once. Written for size: short names, no dependencies.
 */
(function (w, d) {
  if (w.events && w.events.track) return;
  var script = d.currentScript, key = script.getAttribute("data-write-key"), url = new URL("/v1/events", script.src).href;
  if (key) url += "?key=" + encodeURIComponent(key);
  var ls = w.localStorage, q = [], busy = 0, wait = 1e3, timer = 0, last = 0;
  function get(k) { try { return ls.getItem(k); } catch (e) { return null; } }
  function set(k, v) { try { ls.setItem(k, v); } catch (e) { /* storage off: ids last for the page */ } }
  // A v4 UUID from getRandomValues (crypto.randomUUID exists only on https pages).
  function uuid() {
    var b = crypto.getRandomValues(new Uint8Array(16)), h = "", i;
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) h += (b[i] + 256).toString(16).slice(1) + (i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
    return h;
  }
  var uid = get("ev_uid") || uuid();
  set("ev_uid", uid);
  try { q = JSON.parse(get("ev_q")) || []; } catch (e) { q = []; }
  set("ev_q", "[]");
  function session(now) {
    var sid = get("ev_sid");
    if (!sid || now - (+get("ev_seen") || 0) > 18e5) set("ev_sid", (sid = uuid()));
    set("ev_seen", now);
    return sid;
  }
  function track(type, meta) {
    var t = Math.max(Date.now(), last + 1), vw = w.innerWidth, k, m = {
      session_id: session(t), page: location.pathname + location.search, title: d.title, referrer: d.referrer,
      device: (vw < 768 ? "mobile " : vw < 1024 ? "tablet " : "desktop ") + vw + "x" + w.innerHeight,
    };
    for (k in meta || {}) m[k] = String(meta[k]);
    last = t;
    q.push({ user_id: uid, event_type: type, event_time: t, event_id: uuid(), metadata: m });
    if (q.length >= 20) flush();
    else timer = timer || setTimeout(flush, 1e3);
  }
  function flush() {
    clearTimeout(timer);
    timer = 0;
    if (busy || !q.length) return;
    var batch = q.splice(0, 50), body = JSON.stringify(batch);
    busy = 1;
    // keepalive: a batch in flight when the page goes still arrives (browsers take at most 64 KiB so).
    fetch(url, { method: "POST", body: body, headers: { "Content-Type": "text/plain" }, keepalive: body.length < 6e4, credentials: "omit" })
      .then(function (r) {
        if (r.status > 499 || r.status == 429) throw r;
        busy = 0; // 202, or 4xx: this batch can never be taken, and is not sent again
        wait = 1e3;
        flush();
      })
      .catch(function () {
        q = batch.concat(q);
        busy = 0;
        timer = setTimeout(flush, wait);
        wait = Math.min(wait * 2, 6e4);
      });
  }
  function leave() {
    clearTimeout(timer);
    timer = 0;
    while (q.length) {
      var batch = q.slice(0, 50);
      if (!navigator.sendBeacon(url, new Blob([JSON.stringify(batch)], { type: "text/plain" }))) break;
      q.splice(0, 50);
    }
    set("ev_q", JSON.stringify(q)); // what the beacon could not take: the next page sends it
  }
  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("a,button");
    if (el) track("CLICK", { element: el.tagName.toLowerCase(), text: (el.innerText || el.value || "").trim().slice(0, 64), href: el.href || "", id: el.id });
  }, true);
  d.addEventListener("submit", function (e) {
    var f = e.target;
    track("FORM_SUBMIT", { form: f.id || f.name || "", action: f.action });
  }, true);
  d.addEventListener("visibilitychange", function () { if (d.visibilityState == "hidden") leave(); });
  w.addEventListener("pagehide", leave);
  w.events = { track: track, flush: flush, userId: uid };
  track("PAGE_VIEW");
})(window, document);
