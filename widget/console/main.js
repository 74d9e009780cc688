/* The console's entry module (protocol version 1, docs/protocol.md): wires the views, starts and stops a session. */

/*
 * One page, no framework, no build step: native ES modules. REST for snapshots (lists, threads, leads), the console
 * websocket for everything live. Every string that came from the server or a customer is put into the page with
 * textContent / text nodes only (dom.js's h() never parses HTML).
 */

import "./alerts.js";
import { api, clearToken, whenSessionLost } from "./api.js";
import { closeBoard, renderBoardEntry } from "./board.js";
import { resetComposer } from "./composer.js";
import { renderTransferTargets, showNoDialog } from "./dialog.js";
import { closeDuplicates } from "./duplicates.js";
import { closeList } from "./lead-list.js";
import "./contacts.js";
import { checkReminders } from "./deals.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { renderLead, showLead } from "./lead.js";
import { clearSearch } from "./lead-search.js";
import { initLogin, showLogin } from "./login.js";
import { closePage } from "./pages.js";
import { forgetAnswers } from "./quick-answers.js";
import { resetQuickPanel } from "./quick-panel.js";
import { forgetReopen } from "./reopen.js";
import { resetMessageSearch } from "./search.js";
import { forgetClosedPages, refreshLists, renderLists, tick } from "./sidebar.js";
import { connect, disconnect } from "./socket.js";
import { notify, resetState, state } from "./store.js";
import { toast } from "./toast.js";
import { renderMe } from "./topbar.js";
import { resetTyping } from "./typing.js";
import { forgetMarks } from "./unread.js";

const REFRESH_MS = 30000; // safety net: refetch every list even when the websocket looks healthy

let refreshTimer = null;
let remindTimer = null;
const REMIND_MS = 5 * 60 * 1000; // the deals needing attention, asked again
let tickTimer = null;

function startApp(operator) {
  if (state.running) stopApp();
  state.running = true;
  state.me = operator;
  renderLists(); // an admin's list of all dialogs shows, anyone else's does not
  $("login-view").hidden = true;
  $("app").hidden = false;
  renderMe();
  renderBoardEntry();
  loadMeta().then(checkReminders);
  refreshLists();
  connect();
  refreshTimer = setInterval(refreshLists, REFRESH_MS);
  remindTimer = setInterval(checkReminders, REMIND_MS);
  tickTimer = setInterval(tick, 1000);
}

function stopApp() {
  state.running = false;
  clearInterval(refreshTimer);
  clearInterval(remindTimer);
  clearInterval(tickTimer);
  resetTyping(); // the customer sees us stop, while the socket is still there to say it
  disconnect();
  resetState();
  forgetClosedPages();
  resetComposer(); // no draft, file or internal-note switch is left for the next person on this tab
  renderLists();
  showNoDialog();
  showLead(null);
  clearSearch();
  resetMessageSearch();
  forgetAnswers(); // the next operator's answers are their own
  resetQuickPanel();
  forgetMarks();
  forgetReopen();
  closeBoard();
  closeDuplicates();
  closeList();
  for (const view of ["deals-view", "deal-view", "contacts-view", "contact-view"]) closePage(view);
  renderBoardEntry();
}

/** Any 401 after sign-in: drop everything and ask for the password again. */
function sessionLost() {
  if (!state.running) return;
  clearToken();
  stopApp();
  showLogin(t("login.ended"));
}

async function loadMeta() {
  try {
    const meta = await api("GET", "/api/meta");
    state.meta = {
      lines: meta.lines || [], operators: meta.operators || [], statuses: meta.statuses || [],
      pipeline: Array.isArray(meta.pipeline) ? meta.pipeline : [], // each status's name, colour and kind
      // the server's limits (max_message_length); an older server leaves them out and the defaults hold
      limits: meta.limits && typeof meta.limits === "object" ? meta.limits : {},
      // deals: the pipelines with their stages, the custom fields of each record, the reminders' days
      deal_pipelines: Array.isArray(meta.deal_pipelines) ? meta.deal_pipelines : [],
      fields: meta.fields && typeof meta.fields === "object" ? meta.fields : {},
      remind_after_days: meta.remind_after_days || 0,
    };
    renderTransferTargets();
    notify("header");
    notify("lists");
    if (state.lead) renderLead(state.lead);
  } catch (e) {
    if (e.status !== 401) toast(t("meta.failed", { message: e.message }), e.code);
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
