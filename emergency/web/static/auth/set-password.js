// The one-time link of `typhoon user add`: /set-password#token=… (the token stays in the
// fragment, never sent to a server's logs). Sets the password, then sends the person to sign in.
(function () {
  "use strict";
  var T = {
    en: { title: "Set your password", password: "New password", again: "The same again", hint: "At least 10 characters.",
          save: "Save the password", differ: "The two passwords differ.", done: "Password set for {n}. Sign in on the dashboard.",
          signin: "Sign in", bad: "This link is used or expired: ask the command post for a new one.", no_token: "Open the link you were given, whole." },
    "zh-Hans": { title: "设置密码", password: "新密码", again: "再输入一次", hint: "至少10个字符。", save: "保存密码",
          differ: "两次输入的密码不一致。", done: "已为 {n} 设置密码。请在指挥台登录。", signin: "登录",
          bad: "此链接已使用或已过期，请向指挥部索取新链接。", no_token: "请完整打开收到的链接。" },
    "zh-Hant": { title: "設定密碼", password: "新密碼", again: "再輸入一次", hint: "至少10個字元。", save: "儲存密碼",
          differ: "兩次輸入的密碼不一致。", done: "已為 {n} 設定密碼。請在指揮台登入。", signin: "登入",
          bad: "此連結已使用或已過期，請向指揮部索取新連結。", no_token: "請完整打開收到的連結。" },
    pt: { title: "Definir a palavra-passe", password: "Nova palavra-passe", again: "A mesma outra vez", hint: "Pelo menos 10 caracteres.",
          save: "Guardar a palavra-passe", differ: "As duas palavras-passe são diferentes.", done: "Palavra-passe definida para {n}. Entre no painel.",
          signin: "Entrar", bad: "Esta ligação já foi usada ou expirou: peça uma nova ao posto de comando.", no_token: "Abra a ligação recebida, inteira." },
  };
  var nav = (navigator.language || "en").toLowerCase();
  var asked = new URLSearchParams(location.search).get("lang");
  var lang = T[asked] ? asked : nav.indexOf("zh") === 0 ? (/tw|hk|mo|hant/.test(nav) ? "zh-Hant" : "zh-Hans") : nav.indexOf("pt") === 0 ? "pt" : "en";
  var t = function (k) { return T[lang][k]; };
  document.documentElement.lang = lang;
  document.title = t("title");
  document.querySelectorAll("[data-t]").forEach(function (el) { el.textContent = t(el.getAttribute("data-t")); });
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) history.replaceState(null, "", location.pathname + location.search);
  var result = document.getElementById("result");
  var form = document.getElementById("set-password");
  if (!token) { result.textContent = t("no_token"); result.className = "bad"; }
  form.onsubmit = function (ev) {
    ev.preventDefault();
    var pw = document.getElementById("password").value, again = document.getElementById("again").value;
    if (pw !== again) { result.textContent = t("differ"); result.className = "bad"; return; }
    var button = form.querySelector("button");
    button.disabled = true;
    fetch("/api/v1/auth/password", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token || "", password: pw }) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, status: r.status, j: j }; }); })
      .then(function (r) {
        if (r.ok) {
          form.reset();
          result.className = "ok";
          result.textContent = t("done").replace("{n}", r.j.name) + " ";
          var a = document.createElement("a"); a.href = "/?lang=" + lang; a.textContent = t("signin");
          result.appendChild(a);
          return;
        }
        button.disabled = false;
        result.className = "bad";
        result.textContent = r.status === 401 ? t("bad") : (r.j.error && r.j.error.message) || ("HTTP " + r.status);
      }, function (e) { button.disabled = false; result.className = "bad"; result.textContent = String(e); });
  };
})();
