/*
 * Guests (docs/protocol.md, `invite` / `leave`): the dialog's operator invites a colleague in to follow the thread
 * and write internal notes (public answers too when allowed), sees the guests in the header and takes them out;
 * a guest leaves. The lists and the reply box follow the `dialog.invited` / `dialog.left` frames (sidebar.js,
 * dialog.js); this module draws the header's part and says why a command was refused.
 */

import { $, h } from "./dom.js";
import { language, onLanguage, t } from "./i18n.js";
import { onFrame, sendFrame } from "./socket.js";
import { myLogin, operatorName, state } from "./store.js";

const CODES = new Set(["forbidden", "bad_state", "bad_field", "unknown_operator", "not_invited"]);
const PENDING_MS = 10000; // an invite that changes nothing is answered by no frame: stop waiting after this

let pending = null; // {dialogId, timer}: our invite/leave, until its frame or its error

function expectAnswer(dialogId) {
  if (pending) clearTimeout(pending.timer);
  pending = { dialogId, timer: setTimeout(() => { pending = null; }, PENDING_MS) };
}

function command(frame) {
  $("guest-error").textContent = "";
  if (sendFrame(frame)) expectAnswer(frame.dialog_id);
}

/** The header's guests part for the selected dialog `d`, given what I may do with it (dialog.js allowedActions). */
export function renderGuests(d, can) {
  const guests = can.open ? (d.invited || []) : [];
  const box = $("dlg-guests");
  box.hidden = !guests.length;
  box.replaceChildren(...(guests.length ? [
    h("span", { class: "guests-label", text: t("guests.label") }),
    ...guests.map((g) => h("span", { class: "chip guest", "data-guest": g },
      h("span", { text: operatorName(g) }),
      can.invite ? h("button", {
        type: "button", class: "chip-x", text: "×",
        title: t("guests.remove", { name: operatorName(g) }), "aria-label": t("guests.remove", { name: operatorName(g) }),
        onclick: () => command({ type: "leave", dialog_id: d.id, operator: g }),
      }) : null)),
    d.guests_reply ? h("span", { class: "guests-replies", text: t("guests.replies_on") }) : null,
  ].filter(Boolean) : []));
  $("invite-box").hidden = !can.invite;
  $("btn-leave").hidden = !can.leave;
  if (can.invite) renderInviteTargets(d);
  if (!pending || pending.dialogId !== d.id) $("guest-error").textContent = "";
}

/** Every other operator but the dialog's own, with whether they are a guest already. */
function renderInviteTargets(d) {
  const sel = $("invite-target");
  const keep = sel.value;
  const ops = state.meta.operators.filter((o) => o.login !== myLogin() && o.login !== d.operator);
  sel.replaceChildren(
    h("option", { value: "", text: t("guests.choose") }),
    ...ops.map((o) => h("option", { value: o.login,
      text: (d.invited || []).includes(o.login) ? t("guests.already", { name: o.name || o.login }) : (o.name || o.login) })),
  );
  sel.value = keep;
  if (sel.value !== keep) sel.value = "";
}

/** An error frame about our invite/leave: said in the header (the server's words in English, ours otherwise). */
export function guestRefused(f) {
  if (!pending || f.client_msg_id || !f.dialog_id || f.dialog_id !== pending.dialogId) return false;
  clearTimeout(pending.timer);
  pending = null;
  const own = CODES.has(f.code) ? t(`guests.error.${f.code}`) : t("guests.error.other");
  if (f.dialog_id === state.selectedId) {
    $("guest-error").textContent = language() === "en" && f.message ? f.message : own;
  }
  return true;
}

/** The invitation went through (its frame came): nothing is pending. */
function guestAnswered(dialogId) {
  if (pending && pending.dialogId === dialogId) { clearTimeout(pending.timer); pending = null; }
}

$("btn-invite").addEventListener("click", () => {
  const operator = $("invite-target").value;
  if (!state.selectedId) return;
  if (!operator) { $("guest-error").textContent = t("guests.choose_first"); $("invite-target").focus(); return; }
  command({ type: "invite", dialog_id: state.selectedId, operator, allow_replies: $("invite-replies").checked });
  $("invite-target").value = "";
});

$("btn-leave").addEventListener("click", () => {
  if (state.selectedId) command({ type: "leave", dialog_id: state.selectedId });
});

onLanguage(() => { if (pending === null) $("guest-error").textContent = ""; });
onFrame("dialog.invited", (f) => guestAnswered(f.dialog_id));
onFrame("dialog.left", (f) => guestAnswered(f.dialog_id));
