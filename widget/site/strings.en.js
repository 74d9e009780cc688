/*
 * openlines site widget: the English strings. widget/site/loader.js loads the file of the page's language
 * (`data-lang` on its <script> tag, else the page's <html lang>), and this one when there is none for it.
 * Every string is shown as text, never parsed as HTML. A new language is a copy of this file with its code.
 */
(window.__openlinesStrings = window.__openlinesStrings || {}).en = {
  title: "Chat with us",
  openChat: "Open chat",
  closeChat: "Close chat",
  connecting: "Connecting…",
  online: "We reply as soon as we can",
  reconnecting: "Connection lost — reconnecting…",
  unavailable: "Chat is not available right now",
  empty: "Hi! Ask us anything — we usually reply within a few minutes.",
  placeholder: "Type a message…",
  message: "Message",
  send: "Send",
  sending: "sending…",
  notSent: "Not sent",
  retry: "Retry",
  notDelivered: "Not delivered",
  earlier: "Earlier messages",
  loading: "Loading…",
  newConversation: "New conversation",
  typing: "{name} is typing…", // {name}: the operator's name
  typingNoName: "The operator is typing…",
  lineUnknown: "Sorry, this chat is not available. Please reach us another way — see the contacts on this site.",
  fileFailed: "The file could not be opened. Reload the page and try again.",
  download: "Download",
  sizeUnits: ["B", "KB", "MB", "GB"],
  attach: "Attach a file",
  camera: "Take a photo",
  dropHere: "Drop files here to send them",
  uploading: "Uploading…",
  removeFile: "Remove",
  waitUploads: "Please wait until the files are uploaded.",
  tooManyFiles: "You can send up to {n} files in one message.", // {n}: the line's limit
  fileErrors: {
    too_large: "Too large: files up to {size}", // {size}: the line's limit, e.g. "10 MB"
    type_not_allowed: "Files of this type cannot be sent here",
    bad_file: "The file does not match its type",
    empty_file: "The file is empty",
    files_off: "Files cannot be sent in this chat",
    rate_limited: "Too many files at once — please try again in a minute",
    invalid_token: "Not uploaded — please reload the page",
    failed: "Not uploaded — please try again",
  },
  error: "Something went wrong",
  rateGroup: "Rate the answer",
  rateLike: "Helpful",
  rateDislike: "Not helpful",
  rateStar: "{n} of 5", // {n}: the score
  rateComment: "Your comment",
  rateCommentPlaceholder: "Add a comment (optional)",
  rateSkip: "Skip",
  rateThanks: "Thank you for your rating!",
  rateFailed: "The rating could not be saved. Please try again.",
  rateErrors: {
    too_late: "This conversation can no longer be rated.",
    not_asked: "There is nothing to rate in this conversation yet.",
    rating_off: "This conversation can no longer be rated.",
  },
  errors: {
    message_too_long: "The message is too long",
    empty_message: "The message is empty",
    not_stored: "The message could not be stored",
    identity_refused: "We could not confirm who you are. Please reload the page, or sign in again.",
    bad_identity: "We could not confirm who you are. Please reload the page, or sign in again.",
    identity_required: "Please sign in to the site to chat with us.",
    identity_off: "This chat cannot be opened from this page. Please contact us another way.",
  },
};
