// The demo page's own script (a file, not inline: the page's Content-Security-Policy allows scripts from 'self' only).
// `?line=ID` or `?lang=ru` embeds another line or language: swap the static tag for one created here. The
// loader waits for the DOM before mounting and ignores a tag that was removed by then, so only the swapped-in
// widget appears.
(function () {
  var absolute = new URL("/widget/loader.js", location.href).href;
  var params = new URLSearchParams(location.search);
  var line = (params.get("line") || "").trim().slice(0, 100);
  var lang = (params.get("lang") || "").trim().slice(0, 20);
  var snippet = document.getElementById("snippet");
  if (line || lang) {
    var staticTag = document.getElementById("openlines-embed");
    staticTag.parentNode.removeChild(staticTag);
    var s = document.createElement("script");
    s.src = "/widget/loader.js";
    s.async = true;
    s.setAttribute("data-line", line || "support");
    if (lang) s.setAttribute("data-lang", lang);
    document.body.appendChild(s);
  }
  // The snippet is text: a site owner copies it as it is, with this server's address.
  snippet.textContent = '<script src="' + absolute + '" data-line="' + (line || "support") + '"' +
    (lang ? ' data-lang="' + lang + '"' : "") + ' async></' + 'script>';
})();
