/*
 * Alerts while the tab is hidden: a new offer to me and a customer's message in my dialog play a short sound and
 * show a desktop notification. The bell menu turns them on (the browser is asked for permission only on that click,
 * never on load), the sound on or off, or everything off; the choice is kept in this browser.
 */

import { $ } from "./dom.js";
import { onLanguage, t } from "./i18n.js";
import { onFrame } from "./socket.js";
import { dialogName, myLogin, notify, state } from "./store.js";

const KEY = "openlines.console.alerts";
const BODY_CHARS = 100;

let prefs = load();
let audio = null; // one AudioContext, made on first use

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "{}");
    return { sound: saved.sound !== false, muted: saved.muted === true };
  } catch { return { sound: true, muted: false }; }
}

function save() {
  try { localStorage.setItem(KEY, JSON.stringify(prefs)); } catch { /* this page only */ }
}

const supported = () => typeof window.Notification === "function";
const permission = () => (supported() ? window.Notification.permission : "unsupported");

function renderMenu() {
  $("alerts-sound").checked = prefs.sound;
  $("alerts-mute").checked = prefs.muted;
  const p = permission();
  $("alerts-desktop").hidden = p === "granted" || p === "denied" || p === "unsupported";
  $("alerts-desktop-state").textContent = t(`alerts.${p}`);
  $("alerts-open").classList.toggle("is-muted", prefs.muted);
}

function openMenu(open) {
  $("alerts-menu").hidden = !open;
  $("alerts-open").setAttribute("aria-expanded", open ? "true" : "false");
  if (open) renderMenu();
}

/** A short two-note chime made on the spot (no audio file to fetch). */
function chime() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const now = audio.currentTime;
    [[880, 0], [1320, 0.12]].forEach(([freq, at]) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.2, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.2);
    });
  } catch { /* no sound is no reason to fail */ }
}

/** Tell the operator, if the tab is hidden and they did not mute it: sound and/or a notification opening the dialog. */
function alertAbout(dialogId, title, text) {
  if (prefs.muted || document.visibilityState === "visible") return;
  if (prefs.sound) chime();
  if (permission() !== "granted") return;
  try {
    const body = [...String(text || "")].slice(0, BODY_CHARS).join("");
    const n = new window.Notification(title, { body, tag: dialogId });
    n.onclick = () => {
      window.focus();
      n.close();
      if (state.running) notify("open", dialogId);
    };
  } catch { /* e.g. a browser that only notifies from a service worker */ }
}

onFrame("dialog.offered", (f) => {
  const d = f.dialog;
  if (!d || !(d.offered_to || []).includes(myLogin())) return;
  alertAbout(d.id, dialogName(d), (d.last_message && d.last_message.text) || t("alerts.offer"));
});

onFrame("message", (f) => {
  const m = f.message;
  if (!m || !m.author || m.author.kind !== "customer") return;
  const id = f.dialog_id || m.dialog_id;
  const d = state.dialogs.get(id) || (state.selected && state.selected.id === id ? state.selected : null);
  if (!d || d.state !== "assigned" || d.operator !== myLogin()) return;
  alertAbout(id, dialogName(d), m.text);
});

$("alerts-open").addEventListener("click", () => openMenu($("alerts-menu").hidden));
$("alerts-desktop").addEventListener("click", async () => {
  if (!supported()) return;
  try { await window.Notification.requestPermission(); } catch { /* older callback form: the state shows below */ }
  renderMenu();
});
$("alerts-sound").addEventListener("change", () => {
  prefs.sound = $("alerts-sound").checked;
  save();
  if (prefs.sound) chime(); // a taste of it, and the click lets the browser play sound later
});
$("alerts-mute").addEventListener("change", () => { prefs.muted = $("alerts-mute").checked; save(); renderMenu(); });
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("alerts-menu").hidden) { openMenu(false); $("alerts-open").focus(); }
});
document.addEventListener("click", (e) => {
  if (!$("alerts-menu").hidden && !e.target.closest(".alerts")) openMenu(false);
});

renderMenu();
onLanguage(renderMenu);
