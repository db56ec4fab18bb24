/* Web push service worker of the Hengqin command post: shows each alert as a notification.
 *
 * The dispatch worker sends JSON {title, body, broadcast_id, language, exercise}; a plain
 * text payload is shown as the body. One notification per broadcast (tag), drills marked.
 * Registered by subscribe.js as /static/push/push-sw.js?lang=<language> (scope
 * /static/push/): it receives pushes whatever page is open, and it re-subscribes by itself
 * when the browser rotates the subscription (pushsubscriptionchange).
 */
"use strict";

const PARAMS = new URL(self.location.href).searchParams;
const LANGUAGE = PARAMS.get("lang") || "zh-Hans";
const TITLES = {
  "zh-Hans": "横琴三防预警",
  "zh-Hant": "橫琴三防預警",
  pt: "Alerta de Hengqin",
  en: "Hengqin alert",
};
const DRILL = {
  "zh-Hans": "【演习】",
  "zh-Hant": "【演習】",
  pt: "[SIMULACRO] ",
  en: "[EXERCISE] ",
};

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function parse(data) {
  if (!data) return {};
  try {
    const value = data.json();
    return value && typeof value === "object" ? value : { body: String(value) };
  } catch (_error) {
    return { body: data.text() };
  }
}

self.addEventListener("push", (event) => {
  const alert = parse(event.data);
  const language = alert.language || LANGUAGE;
  let title = alert.title || TITLES[language] || TITLES.en;
  if (alert.exercise && !title.startsWith(DRILL[language] || DRILL.en)) {
    title = (DRILL[language] || DRILL.en) + title;
  }
  const options = {
    body: alert.body || "",
    lang: language,
    tag: alert.broadcast_id ? `broadcast-${alert.broadcast_id}` : undefined,
    renotify: Boolean(alert.broadcast_id),
    requireInteraction: !alert.exercise, // a real warning stays until it is seen
    timestamp: Date.now(),
    data: { url: alert.url || "/", broadcastId: alert.broadcast_id || null },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/",
    self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (client.url === target && "focus" in client) return client.focus();
    }
    return self.clients.openWindow(target);
  })());
});

function urlBase64ToUint8Array(text) {
  const padded = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(padded);
  return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const answer = await fetch("/api/v1/push/vapid-public-key");
    const { public_key: key } = await answer.json();
    const subscription = event.newSubscription || await self.registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: urlBase64ToUint8Array(key),
    });
    await fetch("/api/v1/push/subscriptions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ subscription: subscription.toJSON(), language: LANGUAGE }),
    });
    if (event.oldSubscription) {
      await fetch("/api/v1/push/subscriptions", {
        method: "DELETE",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ endpoint: event.oldSubscription.endpoint }),
      });
    }
  })());
});
