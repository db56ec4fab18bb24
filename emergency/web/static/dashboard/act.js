// One way to act from any screen: a confirmation where it cannot be undone, one
// Idempotency-Key per action (kept when the network failed, so the retry is the same action),
// the button disabled while in flight, the result shown, the form reset on success.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { newKey } from "./api.js";

/** An inline "are you sure?" under `anchor`; resolves true (confirm) or false (back). */
export function ask(anchor, question, { danger = true } = {}) {
  const host = anchor.closest("form, .row-actions, .buttons, .alarm") || anchor.parentNode;
  const old = host.querySelector(":scope > .confirm");
  if (old) old.remove();
  return new Promise((resolve) => {
    const done = (answer) => { box.remove(); resolve(answer); anchor.focus(); };
    const yes = h("button", { type: "button", class: danger ? "danger" : "primary", "data-testid": "confirm", onclick: () => done(true) }, t("confirm"));
    const box = h("div", { class: "confirm", role: "alertdialog", "aria-label": question },
      h("p", null, question), yes, " ", h("button", { type: "button", onclick: () => done(false) }, t("back")));
    host.append(box);
    yes.focus();
  });
}

export function show(result, kind, text) {
  if (!result) return;
  result.className = `result ${kind}`;
  result.textContent = text;
}

export function errorText(r) {
  if (r.status === 0) return `${t("error")}: ${t("no_connection")}`;
  if (r.status === 401) return t("signed_out");
  if (r.status === 403) return `${t("error")}: ${t("not_allowed")} (${r.message})`;
  // the refusals a desk meets on a busy night, in the screen's language (never a bare code)
  const known = r.code && t(`err_${r.code}`) !== `err_${r.code}` ? t(`err_${r.code}`) : "";
  if (!known && r.status === 429) return `${t("error")}: ${t("err_rate_limited")}`;
  return `${t("error")}: ${known || r.message || `HTTP ${r.status}`}`;
}

/**
 * Wire `button` to an action. `confirm()` returns a question (ask first), "" (no need) or
 * false (the input is wrong: `invalid()` has said why); `run(key)` makes the call;
 * `success(data)` says what happened; `reset()` empties the form.
 */
export function action(button, { result, echo, confirm = () => "", run, success, reset, danger = true }) {
  let key = null;
  button.addEventListener("click", async (ev) => {
    ev.preventDefault();
    if (button.disabled) return;
    show(result, "", "");  // an earlier action's line must not answer for this one
    show(echo, "", "");
    const question = confirm();
    if (question === false) {  // the input is wrong: say why (or at least that), never stay silent
      const why = (result && result.textContent) || t("check_input");
      show(result, "bad", why);
      show(echo, "bad", why);
      return;
    }
    if (question && !(await ask(button, question, { danger }))) return;
    key ||= newKey();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    show(result, "busy", t("working"));
    show(echo, "busy", t("working"));
    let r;
    try {
      r = await run(key);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    if (r.ok) {
      key = null;
      const said = `✓ ${success ? success(r.data) : t("done_ok")}`;
      show(result, "ok", said);
      show(echo, "ok", said);  // the screen's own line: it outlives a redraw of the row
      if (reset) reset();
    } else {
      if (r.status >= 400 && r.status < 500) key = null;  // refused: a new attempt is a new action
      show(result, "bad", errorText(r));
      show(echo, "bad", errorText(r));
    }
  });
  return button;
}
