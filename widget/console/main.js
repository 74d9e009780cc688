/* The console's entry module (protocol version 1, docs/protocol.md): wires the views, starts and stops a session. */

/*
 * One page, no framework, no build step: native ES modules. REST for snapshots (lists, threads, leads), the console
 * websocket for everything live. Every string that came from the server or a customer is put into the page with
 * textContent / text nodes only (dom.js's h() never parses HTML).
 */

import { api, clearToken, whenSessionLost } from "./api.js";
import { renderTransferTargets, showNoDialog } from "./dialog.js";
import { $ } from "./dom.js";
import { renderLead, showLead } from "./lead.js";
import { clearSearch } from "./lead-search.js";
import { initLogin, showLogin } from "./login.js";
import { refreshLists, renderLists, tick } from "./sidebar.js";
import { connect, disconnect } from "./socket.js";
import { resetState, state } from "./store.js";
import { toast } from "./toast.js";
import { renderMe } from "./topbar.js";

const REFRESH_MS = 30000; // safety net: refetch every list even when the websocket looks healthy

let refreshTimer = null;
let tickTimer = null;

function startApp(operator) {
  if (state.running) stopApp();
  state.running = true;
  state.me = operator;
  $("login-view").hidden = true;
  $("app").hidden = false;
  renderMe();
  loadMeta();
  refreshLists();
  connect();
  refreshTimer = setInterval(refreshLists, REFRESH_MS);
  tickTimer = setInterval(tick, 1000);
}

function stopApp() {
  state.running = false;
  clearInterval(refreshTimer);
  clearInterval(tickTimer);
  disconnect();
  resetState();
  renderLists();
  showNoDialog();
  showLead(null);
  clearSearch();
}

/** Any 401 after sign-in: drop everything and ask for the password again. */
function sessionLost() {
  if (!state.running) return;
  clearToken();
  stopApp();
  showLogin("Your session has ended. Please sign in again.");
}

async function loadMeta() {
  try {
    const meta = await api("GET", "/api/meta");
    state.meta = { lines: meta.lines || [], operators: meta.operators || [], statuses: meta.statuses || [] };
    renderTransferTargets();
    if (state.lead) renderLead(state.lead);
  } catch (e) {
    if (e.status !== 401) toast(`Could not load settings: ${e.message}`, e.code);
  }
}

whenSessionLost(sessionLost);
initLogin(startApp, stopApp);

(async () => {
  try {
    startApp(await api("GET", "/api/me"));
  } catch (e) {
    if (e.status === 401) clearToken();
    showLogin(e.status === 401 ? "" : e.message);
  }
})();
