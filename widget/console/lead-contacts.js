/* The lead card's phones and e-mails: any number of each, with a comment ("work", "her assistant"), added with "+"
   and removed with "−"; the first one is the lead's main phone (e-mail). lead.js saves them with the card. */

import { $, h } from "./dom.js";
import { t } from "./i18n.js";

const LISTS = { phone: "lead-phones", email: "lead-emails" };
let dirty = false;
let readOnly = false;

/** Whether the operator changed the contacts since they were last shown from the server. */
export const contactsEdited = () => dirty;

function row(kind, item) {
  const value = h("input", {
    type: kind === "phone" ? "tel" : "email", class: "contact-value", autocomplete: "off", value: item.value || "",
    "aria-label": t(kind === "phone" ? "lead.phone" : "lead.email"), disabled: readOnly,
  });
  const comment = h("input", {
    class: "contact-comment", autocomplete: "off", maxlength: "200", value: item.comment || "",
    placeholder: t("lead.contact_comment"), "aria-label": t("lead.contact_comment"), disabled: readOnly,
  });
  const remove = h("button", {
    type: "button", class: "btn btn-ghost contact-remove", text: "−", hidden: readOnly,
    title: t("lead.contact_remove"), "aria-label": t("lead.contact_remove"),
    onclick: () => { li.remove(); dirty = true; },
  });
  const li = h("li", { class: "contact" }, value, comment, remove);
  for (const input of [value, comment]) input.addEventListener("input", () => { dirty = true; });
  return li;
}

/** Show the lead's contacts (what the operator is typing stays when the same lead is shown again). */
export function renderContacts(lead, { keepEdits, locked }) {
  readOnly = !!locked;
  for (const [kind, id] of Object.entries(LISTS)) {
    $(`lead-${kind}-add`).hidden = readOnly;
    if (keepEdits && dirty) continue;
    const items = Array.isArray(lead[`${kind}s`]) ? lead[`${kind}s`] : [];
    $(id).replaceChildren(...items.map((c) => row(kind, c)));
  }
  if (!keepEdits) dirty = false;
}

/** The contacts as typed, in order, empty rows left out: {phones, emails}. */
export function typedContacts() {
  const out = {};
  for (const [kind, id] of Object.entries(LISTS)) {
    out[`${kind}s`] = [...$(id).querySelectorAll("li.contact")]
      .map((li) => ({
        value: li.querySelector(".contact-value").value.trim(),
        comment: li.querySelector(".contact-comment").value.trim(),
      }))
      .filter((c) => c.value);
  }
  return out;
}

export function forgetContactEdits() { dirty = false; }

for (const kind of Object.keys(LISTS)) {
  $(`lead-${kind}-add`).addEventListener("click", () => {
    const li = row(kind, { value: "", comment: "" });
    $(LISTS[kind]).appendChild(li);
    dirty = true;
    li.querySelector("input").focus();
  });
}
