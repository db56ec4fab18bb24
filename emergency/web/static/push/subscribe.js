/* Subscribe this browser to the command post's alerts by web push.
 *
 *   <script src="/static/push/subscribe.js"></script>
 *   await subscribeToAlerts(token, "zh-Hant");                  // island-wide
 *   await subscribeToAlerts(null, "pt", { locate: true });       // where the phone is
 *   await subscribeToAlerts(token, "en", { zone: "lianhua", exercise: true }); // staff drills
 *   await unsubscribeFromAlerts();
 *
 * `token` may be null (a resident's browser: public, rate-limited); with a staff token the
 * subscription may also receive exercise broadcasts (`exercise: true`). Without a location
 * or zone the browser receives every public broadcast of the command post. Resolves to the
 * server's answer {id, created, language, zone_id, island_wide, exercise}; rejects with an
 * Error whose message says why (no support, permission denied, server refusal).
 * Also exported as window.TyphoonPush = {subscribeToAlerts, unsubscribeFromAlerts, supported}.
 */
(function (global) {
  "use strict";

  const WORKER = "/static/push/push-sw.js";
  const SCOPE = "/static/push/";

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in global && "Notification" in global;
  }

  function urlBase64ToUint8Array(text) {
    const padded = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    const raw = global.atob(padded);
    return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
  }

  function position() {
    return new Promise((resolve) => {
      if (!navigator.geolocation) return resolve(null);
      navigator.geolocation.getCurrentPosition(
        (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
        () => resolve(null), // refused or unavailable: subscribe without a location
        { maximumAge: 600000, timeout: 10000 });
    });
  }

  async function errorOf(answer) {
    try {
      const body = await answer.json();
      return new Error((body.error && body.error.message) || `HTTP ${answer.status}`);
    } catch (_e) {
      return new Error(`HTTP ${answer.status}`);
    }
  }

  async function subscribeToAlerts(token, language, options) {
    const opts = options || {};
    if (!supported()) throw new Error("this browser cannot receive web push notifications");
    const permission = await Notification.requestPermission();
    if (permission !== "granted") throw new Error("notifications were not allowed");
    const lang = language || "zh-Hans";
    const registration = await navigator.serviceWorker.register(
      `${WORKER}?lang=${encodeURIComponent(lang)}`, { scope: SCOPE });
    await navigator.serviceWorker.ready;
    const keyAnswer = await fetch("/api/v1/push/vapid-public-key");
    if (!keyAnswer.ok) throw await errorOf(keyAnswer);
    const { public_key: key } = await keyAnswer.json();
    let subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      // subscribed with another key (the server's key changed): start again
      const current = subscription.options && subscription.options.applicationServerKey;
      const wanted = urlBase64ToUint8Array(key);
      if (current && new Uint8Array(current).toString() !== wanted.toString()) {
        await subscription.unsubscribe();
        subscription = null;
      }
    }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: urlBase64ToUint8Array(key) });
    }
    const body = { subscription: subscription.toJSON(), language: lang };
    if (opts.zone) body.zone = opts.zone;
    if (opts.lat != null && opts.lon != null) {
      body.lat = opts.lat;
      body.lon = opts.lon;
    } else if (opts.locate) {
      const here = await position();
      if (here) Object.assign(body, here);
    }
    if (opts.exercise) body.exercise = true;
    const headers = { "content-type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const answer = await fetch("/api/v1/push/subscriptions", {
      method: "POST", headers, body: JSON.stringify(body) });
    if (!answer.ok) throw await errorOf(answer);
    return answer.json();
  }

  async function unsubscribeFromAlerts() {
    if (!supported()) return false;
    const registration = await navigator.serviceWorker.getRegistration(SCOPE);
    const subscription = registration && await registration.pushManager.getSubscription();
    if (!subscription) return false;
    await fetch("/api/v1/push/subscriptions", {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint: subscription.endpoint }),
    });
    return subscription.unsubscribe();
  }

  global.subscribeToAlerts = subscribeToAlerts;
  global.unsubscribeFromAlerts = unsubscribeFromAlerts;
  global.TyphoonPush = { subscribeToAlerts, unsubscribeFromAlerts, supported };
})(typeof window !== "undefined" ? window : globalThis);
