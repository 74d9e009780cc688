/* The console's full pages (Duplicates, Leads): one at a time, in place of the three columns. The supervisor's
   board (board.js) takes the same place: opening it puts the pages away, and a page puts the board away. */

import { closeBoard } from "./board.js";
import { $ } from "./dom.js";

const pages = new Map(); // a page's view id → the top-bar button shown pressed while it is open

export const isPageOpen = (view) => !$(view).hidden;

function hidePages() {
  for (const [view, button] of pages) {
    $(view).hidden = true;
    $(button).setAttribute("aria-pressed", "false");
  }
}

/** A page of the console: its view and its top-bar button. */
export function registerPage(view, button) { pages.set(view, button); }

export function openPage(view) {
  closeBoard();
  hidePages();
  $("layout").hidden = true;
  $(view).hidden = false;
  $(pages.get(view)).setAttribute("aria-pressed", "true");
}

/** Back to the dialogs (nothing when the page is not open). */
export function closePage(view) {
  if (!isPageOpen(view)) return;
  hidePages();
  $("layout").hidden = false;
}

// the board hides the columns itself: the pages only go
$("board-open").addEventListener("click", hidePages);
