/* An operator's saved filters of a list (GET/POST/DELETE /api/filters): a picker that applies one, a name box and
   a button that save the list's current filter, a button that deletes the chosen one. Each list wires its own. */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { toast } from "./toast.js";

/**
 * entity: leads | contacts | deals; ids: {select, forget, name, save} element ids; current(): the list's filter as
 * URLSearchParams; apply(query): put a saved filter's parameters into the list's inputs and load it.
 * Returns load(), to call when the list opens.
 */
export function savedFilters(entity, ids, current, apply) {
  const sel = $(ids.select);

  async function load() {
    try {
      const got = await api("GET", `/api/filters?entity=${entity}`);
      const keep = sel.value;
      sel.replaceChildren(h("option", { value: "", text: t("deal.saved_filters") }),
        ...got.filters.map((f) => h("option", { value: f.id, text: f.name, "data-query": JSON.stringify(f.query) })));
      sel.value = keep;
      $(ids.forget).hidden = !sel.value;
    } catch (e) { if (e.status !== 401) toast(e.message, e.code); }
  }

  sel.addEventListener("change", () => {
    const opt = sel.selectedOptions[0];
    $(ids.forget).hidden = !sel.value;
    if (opt && opt.dataset.query) apply(JSON.parse(opt.dataset.query));
  });
  $(ids.save).addEventListener("click", async () => {
    const name = $(ids.name).value.trim();
    if (!name) { $(ids.name).focus(); return; }
    try {
      const saved = await api("POST", "/api/filters", { entity, name, query: Object.fromEntries(current()) });
      $(ids.name).value = "";
      await load();
      sel.value = saved.id;
      $(ids.forget).hidden = false;
      toast(t("deal.filter_saved", { name }));
    } catch (e) { if (e.status !== 401) toast(e.message, e.code); }
  });
  $(ids.forget).addEventListener("click", async () => {
    if (!sel.value) return;
    try {
      await api("DELETE", `/api/filters/${encodeURIComponent(sel.value)}`);
      sel.value = "";
      load();
    } catch (e) { if (e.status !== 401) toast(e.message, e.code); }
  });
  return load;
}
