/* Sign-in and sign-out: the login form, the Log out button, and going back to the login view. */

import { api, clearToken, setToken } from "./api.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { baseTitle } from "./store.js";

export function showLogin(message) {
  $("app").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  document.title = baseTitle();
  $("login").focus();
}

/** `signedIn(operator)` starts the console, `signedOut()` stops it (both belong to main.js). */
export function initLogin(signedIn, signedOut) {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const login = $("login").value.trim();
    const password = $("password").value;
    const err = $("login-error");
    err.textContent = "";
    if (!login || !password) { err.textContent = t("login.empty"); return; }
    $("login-submit").disabled = true;
    try {
      const res = await api("POST", "/api/login", { login, password });
      if (res.token) setToken(res.token);
      $("password").value = "";
      signedIn(res.operator || (await api("GET", "/api/me")));
    } catch (ex) {
      err.textContent = ex.status === 401 ? t("login.wrong") : ex.message;
    } finally {
      $("login-submit").disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch { /* we forget the session either way */ }
    clearToken();
    signedOut();
    showLogin();
  });
}
