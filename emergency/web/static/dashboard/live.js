// The live stream: WS /ws/live, snapshot then events by seq. Reconnects with ?since=<last
// seq> (backoff with jitter), at once after 4008 (too slow), never after 4401 (bad token).
// A gap in seq, or a ping whose last_seq is ahead of us, resyncs the same way; a silent
// socket (no ping for a while) is treated as dead.
export class LiveStream {
  constructor({ token, pingSeconds = 15, onSnapshot, onEvent, onStatus, onUnauthorized }) {
    Object.assign(this, { token, onSnapshot, onEvent, onStatus, onUnauthorized });
    this.lastSeq = null;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.lastMessageAt = 0;
    this.silenceMs = Math.max(5000, pingSeconds * 2500);
    this.watchdog = setInterval(() => this.checkSilence(), 1000);
  }

  start() { this.stopped = false; this.open(); }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
  }

  url() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const since = this.lastSeq === null ? "" : `&since=${this.lastSeq}`;
    // Signed in with a password, the session cookie goes with the request; a kiosk names its token.
    const token = this.token ? `token=${encodeURIComponent(this.token)}` : "";
    const query = [token, since.slice(1)].filter(Boolean).join("&");
    return `${proto}://${location.host}/ws/live${query ? "?" + query : ""}`;
  }

  open() {
    clearTimeout(this.timer);
    this.onStatus(this.attempt ? "reconnecting" : "connecting", this.attempt);
    const ws = (this.ws = new WebSocket(this.url()));
    this.openedAt = Date.now();
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.closed(ev);
  }

  receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    this.lastMessageAt = Date.now();
    if (msg.type === "snapshot") {
      this.attempt = 0;
      const resumeFrom = this.lastSeq;
      this.snapshotSeq = msg.seq ?? 0;
      if (this.lastSeq === null) this.lastSeq = this.snapshotSeq;
      this.onSnapshot(msg, { resumeFrom });
      this.onStatus("live");
      return;
    }
    if (msg.type === "ping") {
      this.onStatus("live");
      if (typeof msg.last_seq === "number" && this.lastSeq !== null && msg.last_seq > this.lastSeq) {
        this.resync();  // the server has events we never got
      }
      return;
    }
    if (msg.type === "pong" || typeof msg.seq !== "number") return;
    if (this.lastSeq !== null && msg.seq <= this.lastSeq) return;  // seen already
    if (this.lastSeq !== null && msg.seq > this.lastSeq + 1) { this.resync(); return; }
    this.lastSeq = msg.seq;
    // Events up to the snapshot's seq are already in the snapshot: log them, don't apply.
    this.onEvent(msg, { replayed: msg.seq <= (this.snapshotSeq ?? 0) });
  }

  resync() {
    if (this.ws) { this.ws.onclose = null; this.ws.close(4000, "resync"); }
    this.ws = null;
    this.attempt = 1;
    this.open();
  }

  checkSilence() {
    if (this.stopped || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const since = Math.max(this.lastMessageAt, this.openedAt || 0);
    if (Date.now() - since > this.silenceMs) this.resync();
  }

  closed(ev) {
    this.ws = null;
    if (this.stopped) return;
    if (ev.code === 4401) { this.onStatus("offline"); this.onUnauthorized(); return; }
    this.attempt += 1;
    const base = ev.code === 4008 ? 0 : Math.min(10000, 500 * 2 ** (this.attempt - 1));
    const delay = base ? base * (0.8 + Math.random() * 0.4) : 50;
    this.onStatus("reconnecting", this.attempt);
    this.timer = setTimeout(() => this.open(), delay);
  }
}
