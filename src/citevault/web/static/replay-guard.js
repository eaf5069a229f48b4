// citevault replay guard: keeps the frames that archived scripts create at run time in the archive.
//
// Why it exists: Chromium opens a connection (a preconnect: CONNECT host:443 through a proxy) to the
// host of any frame a page starts to navigate, before the replay CSP (frame-src) refuses the
// navigation; no response header we tried stops it (frame-src/child-src, sandbox, COEP,
// Permissions-Policy, X-DNS-Prefetch-Control: see docs/replay.md). The server rewrites the frames
// it sees in the archived HTML; this file rewrites those that scripts make later, before the
// browser sees their URL: the src/data properties and attributes of iframe, frame, embed and
// object, HTML strings (innerHTML, outerHTML, insertAdjacentHTML, document.write, srcdoc, ...)
// through a Trusted Types default policy (the replay CSP sends require-trusted-types-for
// 'script'), location changes of child frames, window.open into a named frame, and same-origin
// child windows as scripts reach them.
//
// It also gives archived scripts the window's location as archived: the server renames their
// `location` to `__cvLocation` (src/citevault/jsrewrite.py; the same rules are ported below as
// rewriteScript, which the Trusted Types createScript applies to setTimeout strings, javascript:
// URLs and script text set at run time, and the Function wrapper to `new Function` code; direct
// eval code naming location is refused by Chromium), and this file defines `__cvLocation` on the
// window and the document: reads give the archived URL's parts, writes (href, assign, replace,
// `location = ...`, a part) navigate to the archived copy at the page's timestamp, never to the live
// web, which no CSP stops for the page's own window.
//
// Why our own and not wombat: @webrecorder/wombat is AGPL-3.0 (this project is Apache-2.0), and it
// rewrites everything a page can reach for a same-origin replay; ours runs in the sandbox's opaque
// origin and only has to keep frames and the page's own navigations from leaking: images, fetches
// and beacons are already kept in by the CSP, and the as-seen view shows what scripts built at
// capture time.
//
// One file, not two: its parts share one closure (the settings read from this script's element,
// the registry of its wrappers, the windows' proxies and stand-ins) and all must run before any
// archived script. Split, every rewritten page and srcdoc document would need a second <script>,
// in order, and the parts a global that archived scripts can reach. The one part that stands
// alone, the port of jsrewrite.py (rewriteScript, about 75 lines), would still leave this file
// over 400 lines.
"use strict";
(function () {
  var me = document.currentScript;
  if (!me || !me.dataset || window.__citevaultGuard) { return; }
  var cfg = {
    guard: me.src,
    prefix: me.dataset.prefix || "/web/",  // path of /web/ on this service
    ts: me.dataset.ts || "",
    url: me.dataset.url || "",  // the archived page's own URL: relative links resolve against it
  };
  var FRAMES = { iframe: "src", frame: "src", embed: "src", object: "data" };
  var CTORS = { iframe: "HTMLIFrameElement", frame: "HTMLFrameElement", embed: "HTMLEmbedElement",
    object: "HTMLObjectElement" };
  var TAG_RE = /<(iframe|frame|embed|object)\b((?:[^>"']|"[^"]*"|'[^']*')*)>/gi;
  var ATTR_RE = /([^\s"'>\/=]+)(\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]*))?/g;
  var MEMENTO_RE = /^(\d*)(?:[a-z]{2}_)?\/(.*)$/;
  var LOCAL_RE = /^\s*(about:|javascript:|data:|blob:|#|$)/i;
  var PAGE_RE = /^(\d*)([a-z]{2}_)?\/(.*)$/;
  // This service's origin (the guard's own): about:srcdoc children have no other to go by.
  var home = new URL(cfg.guard).origin;

  // -- scripts: the rules of src/citevault/jsrewrite.py (see its docstring for what they cover) --
  var SCRIPT_TOKEN_RE = /\/\/[^\n\r]*|\/\*[\s\S]*?(?:\*\/|$)|"(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?|`(?:[^`\\]|\\[\s\S])*`?|(\/)|([{(\[])|([})\]])|(?<![\w$#])(location|window|self|top|parent|frames|globalThis|this)(?![\w$])/g;
  var REGEX_LITERAL_RE = /\/(?:[^\/\\\[\n\r]|\\.|\[(?:[^\]\\\n\r]|\\.)*\])+\/[\w$]*/y;
  var BEFORE_REGEX = "(,=:[!&|?{};+-*%<>~^";
  var REGEX_KEYWORD_RE = /(?:^|[^\w$])(?:return|typeof|instanceof|in|of|new|delete|void|throw|case|do|else|yield|await)\s*$/;
  var OWNER_RE = /(?:^|[^\w$.])(?:window|self|top|parent|globalThis|document)\s*\??\.\s*$/;
  var BEFORE_OBJECT = "(,=:[?!&|.";
  var OBJECT_KEYWORD_RE = /(?:^|[^\w$])(?:return|typeof|yield|await|const|let|var|in|of)\s*$/;
  var CASE_RE = /(?:^|[^\w$.])(?:case\s[^;{}?]*|default\s*):\s*$/;
  var CLASS_EXPRESSION = "=(,:[!&|?+-*%<>~^";
  var CLASS_HEAD_RE = /(?:^|[^\w$.])class(?:\s+[\w$]+)?(?:\s+extends\s+[^{};]+?)?\s*$/;
  var THIS_MEMBER_RE = /\s*\.\s*(#?[\w$]+)/y;
  var GUARDED = "__cvLocation";
  var NAMES = { location: GUARDED, window: "__cvWindow", self: "__cvSelf", top: "__cvTop",
    parent: "__cvParent", frames: "__cvFrames", globalThis: "__cvGlobalThis" };
  var CHECK_THIS = "__cvThis";

  function prevChar(s, i) { i--; while (i >= 0 && /\s/.test(s[i])) { i--; } return i >= 0 ? s[i] : ""; }
  function nextChar(s, i) { while (i < s.length && /\s/.test(s[i])) { i++; } return i < s.length ? s[i] : ""; }

  function braceKind(text, pos) {
    var prev = prevChar(text, pos);
    if (prev === ":" && CASE_RE.test(text.slice(Math.max(0, pos - 200), pos))) { return "b"; }
    if (!prev || BEFORE_OBJECT.indexOf(prev) >= 0) { return "o"; }
    if (CLASS_HEAD_RE.test(text.slice(Math.max(0, pos - 200), pos))) { return "c"; }
    return OBJECT_KEYWORD_RE.test(text.slice(Math.max(0, pos - 16), pos)) ? "o" : "b";
  }

  function replacement(text, start, end, name, inside) {
    var prev = prevChar(text, start);
    var spread = prev === "." && /\.\.\.\s*$/.test(text.slice(Math.max(0, start - 3), start));
    if (prev === "." && !spread) {
      return name === "location" && OWNER_RE.test(text.slice(Math.max(0, start - 80), start)) ? GUARDED : null;
    }
    var after = nextChar(text, end);
    var key = after === ":" && (prev === "{" || prev === ",") && inside === "o";
    var member = inside === "c" && (!prev || CLASS_EXPRESSION.indexOf(prev) < 0);
    if (key || member || after === "(") { return null; }
    if (name === "this") {
      THIS_MEMBER_RE.lastIndex = end;
      var m = THIS_MEMBER_RE.exec(text);
      if (m && !Object.prototype.hasOwnProperty.call(NAMES, m[1])) { return null; }
      return CHECK_THIS + "(this)";
    }
    if (inside === "o" && (prev === "{" || prev === ",") && (after === "," || after === "}" || after === "=")) {
      return name + ": " + NAMES[name];
    }
    return NAMES[name];
  }

  function rewriteScript(code) {
    var text = String(code);
    var out = "", done = 0, m, stack = [], re = new RegExp(SCRIPT_TOKEN_RE);
    while ((m = re.exec(text)) !== null) {
      if (m[1]) {
        var prev = prevChar(text, m.index);
        if (!prev || BEFORE_REGEX.indexOf(prev) >= 0 ||
            REGEX_KEYWORD_RE.test(text.slice(Math.max(0, m.index - 16), m.index))) {
          REGEX_LITERAL_RE.lastIndex = m.index;
          if (REGEX_LITERAL_RE.test(text)) { re.lastIndex = REGEX_LITERAL_RE.lastIndex; }
        }
      } else if (m[2]) {
        stack.push(m[2] === "{" ? braceKind(text, m.index) : m[2]);
      } else if (m[3]) {
        stack.pop();
      } else if (m[4]) {
        var rep = replacement(text, m.index, m.index + m[4].length, m[4], stack.length ? stack[stack.length - 1] : "b");
        if (rep !== null) {
          out += text.slice(done, m.index) + rep;
          done = m.index + m[4].length;
        }
      }
    }
    return out + text.slice(done);
  }

  // -- the window's location as archived ------------------------------------------------------
  // What a window shows: the archived URL, timestamp and modifier of its /web/ address; a srcdoc or
  // about:blank child shows its parent's page.
  function shown(win) {
    var real = win.location, m = null;
    if (real.origin === home && real.pathname.indexOf(cfg.prefix) === 0) {
      m = PAGE_RE.exec(real.pathname.slice(cfg.prefix.length) + real.search + real.hash);
    }
    var url;
    try { url = new URL(m ? m[3] : cfg.url); } catch (e) { url = new URL(cfg.url); }
    return { url: url, ts: m ? m[1] : cfg.ts, mod: m ? m[2] || "" : (win === win.top ? "" : "if_") };
  }

  // The archive's address of where a script sends its window: resolved against the archived
  // page's URL (not ours), at the page's timestamp; an archive address stays as it is.
  function destination(win, value) {
    var text = String(value);
    if (/^\s*(javascript:|#)/i.test(text)) { return text; }  // runs here (createScript) / in-page
    var here = shown(win), u;
    try { u = new URL(text, cfg.url); } catch (e) { return text; }  // the browser throws the same
    if (u.protocol !== "http:" && u.protocol !== "https:") { return text; }
    if (u.origin === home) { return archived(u.href, here.mod); }
    return cfg.prefix + here.ts + here.mod + "/" + u.href;
  }

  var PARTS = ["href", "protocol", "host", "hostname", "port", "pathname", "search", "hash", "origin"];
  function guardedLocation(win) {
    var loc = {
      assign: function (v) { win.location.assign(destination(win, v)); },
      replace: function (v) { win.location.replace(destination(win, v)); },
      reload: function () { win.location.reload(); },
      toString: function () { return shown(win).url.href; },
    };
    Object.defineProperty(loc, "ancestorOrigins", { get: function () { return win.location.ancestorOrigins; } });
    PARTS.forEach(function (part) {
      Object.defineProperty(loc, part, {
        enumerable: true,
        get: function () { return shown(win).url[part]; },
        set: part === "origin" ? undefined : function (v) {
          if (part === "hash") { win.location.hash = v; return; }  // in-page, no navigation
          var u = shown(win).url;
          if (part !== "href") { u[part] = v; }
          win.location.href = destination(win, part === "href" ? v : u.href);
        },
      });
    });
    return loc;
  }

  // The archive's address of a URL a frame (modifier "if_") or the page ("" or its own) would load.
  function archived(value, modifier) {
    var text = String(value);
    if (LOCAL_RE.test(text)) { return text; }
    var u;
    try { u = new URL(text, document.baseURI); } catch (e) { return text; }
    if (u.protocol !== "http:" && u.protocol !== "https:") { return text; }
    if (u.origin === home) {
      if (u.pathname.indexOf(cfg.prefix) !== 0) {  // made from location: the archived host's path
        try { u = new URL(u.pathname + u.search + u.hash, cfg.url); } catch (e) { return text; }
        return cfg.prefix + cfg.ts + modifier + "/" + u.href;
      }
      var m = MEMENTO_RE.exec(u.pathname.slice(cfg.prefix.length) + u.search + u.hash);
      return m ? cfg.prefix + m[1] + modifier + "/" + m[2] : text;
    }
    return cfg.prefix + cfg.ts + modifier + "/" + u.href;
  }

  function isArchived(value) {
    try {
      var u = new URL(String(value), document.baseURI);
      return u.origin === home && u.pathname.indexOf(cfg.prefix) === 0;
    } catch (e) { return false; }
  }

  function unescapeAttr(v) {
    return v.replace(/&(#x?[0-9a-f]+|amp|quot|apos|lt|gt);?/gi, function (ent, name) {
      var n = name.toLowerCase();
      if (n[0] === "#") {
        var code = n[1] === "x" ? parseInt(n.slice(2), 16) : parseInt(n.slice(1), 10);
        return isNaN(code) ? ent : String.fromCodePoint(code);
      }
      return { amp: "&", quot: "\"", apos: "'", lt: "<", gt: ">" }[n];
    });
  }
  function escapeAttr(v) { return v.replace(/&/g, "&amp;").replace(/"/g, "&quot;"); }

  // Frames and script text in an HTML string rewritten in place; nothing else of the markup changes
  // (document.write is often given half a tag or a lone opening tag: no parse and re-serialise).
  function rewriteHTML(html) {
    if (/<script\b/i.test(html)) {  // scripts that document.write and fragments run
      html = html.replace(/(<script\b[^>]*>)([\s\S]*?)(?=<\/script|$)/gi, function (all, open, body) {
        return open + rewriteScript(body);
      });
    }
    if (!/<(iframe|frame|embed|object)\b/i.test(html)) { return html; }
    return html.replace(TAG_RE, function (tag, name, attrs) {
      var want = FRAMES[name.toLowerCase()];
      var out = attrs.replace(ATTR_RE, function (all, attr, eq, raw) {
        var a = attr.toLowerCase();
        if (!eq || (a !== want && !(a === "srcdoc" && want === "src"))) { return all; }
        var value = unescapeAttr(raw.replace(/^(["'])([\s\S]*)\1$/, "$2"));
        value = a === "srcdoc" ? guardedDocument(value) : archived(value, "if_");
        return attr + "=\"" + escapeAttr(value) + "\"";
      });
      return "<" + name + out + ">";
    });
  }

  // A whole document (srcdoc): its frames rewritten and this guard as its first script.
  function guardedDocument(html) {
    html = rewriteHTML(String(html));
    if (html.indexOf("data-citevault-guard") >= 0) { return html; }
    var tag = "<script data-citevault-guard src=\"" + escapeAttr(cfg.guard) + "\" data-prefix=\"" +
      escapeAttr(cfg.prefix) + "\" data-ts=\"" + escapeAttr(cfg.ts) + "\" data-url=\"" +
      escapeAttr(cfg.url) + "\"></script>";
    var m = /^(\s*<!doctype[^>]*>)/i.exec(html);  // keep the doctype first (no quirks mode)
    return m ? m[1] + tag + html.slice(m[1].length) : tag + html;
  }

  function wrapSetter(proto, prop, change) {
    var d = proto && Object.getOwnPropertyDescriptor(proto, prop);
    if (!d || !d.set) { return; }
    Object.defineProperty(proto, prop, {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (v) { d.set.call(this, change(v, this)); },
    });
  }
  function wrapMethod(proto, name, change) {
    var f = proto && proto[name];
    if (typeof f !== "function") { return; }
    proto[name] = function () {
      var args = Array.prototype.slice.call(arguments);
      change(args, this);
      return f.apply(this, args);
    };
    ours.add(proto[name]);
  }

  function attrValue(el, name, value) {
    var tag = el && el.localName;
    var attr = String(name).toLowerCase();
    if (FRAMES[tag] === attr) { return archived(value, "if_"); }
    if (tag === "iframe" && attr === "srcdoc") { return guardedDocument(value); }
    return value;
  }

  // The window as archived scripts get it (their `window`, `self`, `top`, ... are renamed to these
  // names): a Proxy whose `location`, by any name or alias, is the guarded one. Its target is an
  // empty object, so the window's own non-configurable properties put no invariant on what it
  // answers; the window's native methods are bound to the window (they refuse another `this`).
  var proxies = new WeakMap();  // window -> its proxy
  var fnToString = Function.prototype.toString;
  var ours = new WeakSet();  // the guard's wrappers of native methods: bound like them
  var natives = new WeakMap();  // function -> whether it is the browser's (asked once)
  function isNative(f) {
    var known = natives.get(f);
    if (known === undefined) {
      try { known = /\{\s*\[native code\]\s*\}\s*$/.test(fnToString.call(f)); } catch (e) { known = false; }
      natives.set(f, known);
    }
    return known;
  }
  function windowProxy(win, loc) {
    var bound = new Map();
    var proxy = new Proxy({}, {
      get: function (t, p) {
        if (p === "location" || p === GUARDED) { return loc; }
        var v = win[p];
        if (v === win) { return proxy; }  // window, self, frames, globalThis; top and parent at the top
        if (typeof v !== "function") { return v; }
        var b = bound.get(p);
        if (b && b[0] === v) { return b[1]; }
        if (ours.has(v) || (!Object.prototype.hasOwnProperty.call(v, "prototype") && isNative(v))) {
          b = [v, v.bind(win)];
          bound.set(p, b);
          return b[1];
        }
        return v;
      },
      set: function (t, p, v) {
        if (p === "location" || p === GUARDED) { loc.href = v; } else { win[p] = v; }
        return true;
      },
      has: function (t, p) { return p in win; },
      deleteProperty: function (t, p) { return delete win[p]; },
      ownKeys: function () { return Reflect.ownKeys(win); },
      getOwnPropertyDescriptor: function (t, p) {
        var d = Reflect.getOwnPropertyDescriptor(t, p) || Reflect.getOwnPropertyDescriptor(win, p);
        if (d && !Reflect.getOwnPropertyDescriptor(t, p)) { d.configurable = true; }
        return d;
      },
      defineProperty: function (t, p, d) {
        var ok = Reflect.defineProperty(win, p, d);
        if (ok && d.configurable === false) { Reflect.defineProperty(t, p, d); }
        return ok;
      },
      getPrototypeOf: function () { return Object.getPrototypeOf(win); },
      setPrototypeOf: function () { return false; },
    });
    return proxy;
  }

  // A link or form of this window that a script made or changed for the live web: the archive's
  // copy instead (a click or submit goes where its URL says once every listener has run).
  function keepLink(win, el) {
    if (!el || typeof el.href !== "string" || !/^https?:/i.test(el.href) || isArchived(el.href)) { return; }
    var target = (el.target || "").toLowerCase();
    var named = target && ["_self", "_top", "_parent", "_blank"].indexOf(target) < 0;
    el.setAttribute("href", named ? archived(el.href, "if_") : destination(win, el.href));
  }
  function keepForm(win, form, submitter) {
    var el = submitter && submitter.hasAttribute && submitter.hasAttribute("formaction") ? submitter : form;
    var action = el === form ? form.action : submitter.formAction;
    if (!/^https?:/i.test(action) || isArchived(action)) { return; }
    el.setAttribute(el === form ? "action" : "formaction", destination(win, action));
  }

  function install(win) {
    if (win.__citevaultGuard) { return; }
    Object.defineProperty(win, "__citevaultGuard", { value: true });
    var loc = guardedLocation(win);
    var locProp = { get: function () { return loc; }, set: function (v) { loc.href = v; } };
    Object.defineProperty(win, GUARDED, locProp);
    Object.defineProperty(win.document, GUARDED, locProp);
    var proxy = windowProxy(win, loc);
    proxies.set(win, proxy);
    // What the renamed names are: writable like the window's own `self` or `parent`, so a script's
    // top-level `var self = ...` (now `var __cvSelf`) replaces it as it replaced `self`.
    var names = { __cvWindow: proxy, __cvSelf: proxy, __cvFrames: proxy, __cvGlobalThis: proxy,
      __cvTop: win.top === win ? proxy : win.top, __cvParent: win.parent === win ? proxy : win.parent,
      __cvThis: function (x) { return x === win ? proxy : x; } };
    Object.keys(names).forEach(function (name) {
      Object.defineProperty(win, name, { value: names[name], writable: true, configurable: true });
    });
    var view = Object.getOwnPropertyDescriptor(win.Document.prototype, "defaultView");
    if (view && view.get) {  // document.defaultView === window holds for the scripts' window
      Object.defineProperty(win.Document.prototype, "defaultView", {
        configurable: true, enumerable: view.enumerable,
        get: function () { var w = view.get.call(this); return (w && proxies.get(w)) || w; },
      });
    }
    var onLink = function (e) {
      var path = e.composedPath ? e.composedPath() : [e.target];
      for (var i = 0; i < path.length; i++) {
        var n = path[i].localName;
        if (n === "a" || n === "area") { keepLink(win, path[i]); return; }
      }
    };
    var onSubmit = function (e) { keepForm(win, e.target, e.submitter); };
    // Both phases: before the page's own listeners and after those that change a link late.
    win.addEventListener("click", onLink, true);
    win.addEventListener("click", onLink, false);
    win.addEventListener("submit", onSubmit, true);
    win.addEventListener("submit", onSubmit, false);
    wrapMethod(win.HTMLFormElement.prototype, "submit", function (a, form) { keepForm(win, form, null); });
    // Chromium refuses eval/Function code that the Trusted Types default policy changed, so
    // `new Function(code)` gets its code rewritten before it reaches the policy (which then finds
    // nothing to change). Direct eval cannot be wrapped without losing its scope: its code naming
    // location is refused (EvalError), never run as written.
    var NativeFunction = win.Function;
    var GuardedFunction = function Function() {
      var args = Array.prototype.map.call(arguments, function (a) {
        return typeof a === "string" ? rewriteScript(a) : a;
      });
      return NativeFunction.apply(this, args);
    };
    GuardedFunction.prototype = NativeFunction.prototype;  // instanceof Function still holds
    win.Function = GuardedFunction;
    var html = function (v) { return typeof v === "string" ? rewriteHTML(v) : v; };
    Object.keys(FRAMES).forEach(function (tag) {
      var ctor = win[CTORS[tag]];
      wrapSetter(ctor && ctor.prototype, FRAMES[tag], function (v) { return archived(v, "if_"); });
      ["contentWindow", "contentDocument"].forEach(function (prop) {
        var d = ctor && Object.getOwnPropertyDescriptor(ctor.prototype, prop);
        if (!d || !d.get) { return; }
        Object.defineProperty(ctor.prototype, prop, {
          configurable: true, enumerable: d.enumerable,
          get: function () { return child(d.get.call(this)); },
        });
      });
    });
    wrapSetter(win.HTMLIFrameElement.prototype, "srcdoc", function (v) { return guardedDocument(v); });
    var E = win.Element.prototype;
    wrapMethod(E, "setAttribute", function (a, el) { a[1] = attrValue(el, a[0], a[1]); });
    wrapMethod(E, "setAttributeNS", function (a, el) { if (!a[0]) { a[2] = attrValue(el, a[1], a[2]); } });
    wrapSetter(win.Attr.prototype, "value", function (v, attr) {
      return attr.ownerElement && !attr.namespaceURI ? attrValue(attr.ownerElement, attr.name, v) : v;
    });
    // Windows an event hands out: a message's source, a UI event's view (a click's `e.view`).
    [[win.MessageEvent, "source"], [win.UIEvent, "view"]].forEach(function (pair) {
      var desc = pair[0] && Object.getOwnPropertyDescriptor(pair[0].prototype, pair[1]);
      if (!desc || !desc.get) { return; }
      Object.defineProperty(pair[0].prototype, pair[1], {
        configurable: true, enumerable: desc.enumerable,
        get: function () { var w = desc.get.call(this); return (w && (standIns.get(w) || proxies.get(w))) || w; },
      });
    });
    // window.open(url, "a frame's name") navigates that frame (popups are refused by the sandbox).
    // window.open(url, "_self" / "_top" / "_parent") navigates this window: to the archive too.
    wrapMethod(win, "open", function (a) {
      var target = a.length > 1 ? String(a[1]).toLowerCase() : "_blank";
      if (a.length && ["", "_blank", "_self", "_parent", "_top"].indexOf(target) < 0) {
        a[0] = archived(a[0], "if_");
      } else if (a.length && ["_self", "_parent", "_top"].indexOf(target) >= 0 && !isArchived(a[0])) {
        a[0] = destination(win, a[0]);
      }
    });
    var tt = win.trustedTypes;
    if (tt && typeof tt.createPolicy === "function") {
      // Every HTML string a sink takes passes the default policy; a page's own policies (Google's
      // scripts make them) get their HTML rewritten too, so they cannot carry a frame past it.
      var create = win.TrustedTypePolicyFactory.prototype.createPolicy;
      create.call(tt, "default", {
        createHTML: function (s) { return rewriteHTML(s); },
        // Eval code that the policy changes is refused (EvalError): eval code is only rewritten, and
        // so refused, when it names the window's location; naming the window alone, it runs as is.
        createScript: function (s, type, sink) {
          return sink === "eval" && String(s).indexOf("location") < 0 ? s : rewriteScript(s);
        },
        createScriptURL: function (s) {  // a script (or object/embed) from the live web: the archive's
          return isArchived(s) ? s : archived(s, "js_");
        },
      });
      win.TrustedTypePolicyFactory.prototype.createPolicy = function (name, rules) {
        var own = Object.assign({}, rules);
        if (rules && typeof rules.createHTML === "function") {
          own.createHTML = function () {
            var out = rules.createHTML.apply(rules, arguments);
            return out == null ? out : rewriteHTML(String(out));
          };
        }
        if (rules && typeof rules.createScript === "function") {
          own.createScript = function () {
            var out = rules.createScript.apply(rules, arguments);
            return out == null ? out : rewriteScript(out);
          };
        }
        return create.call(this, name === "default" ? "citevault-page-default" : name, own);
      };
    } else {  // no Trusted Types in this browser: wrap the usual HTML sinks instead
      wrapSetter(E, "innerHTML", html);
      wrapSetter(E, "outerHTML", html);
      wrapSetter(win.ShadowRoot && win.ShadowRoot.prototype, "innerHTML", html);
      wrapMethod(E, "insertAdjacentHTML", function (a) { a[1] = html(a[1]); });
      wrapMethod(win.Document.prototype, "write", function (a) { for (var i = 0; i < a.length; i++) { a[i] = html(a[i]); } });
      wrapMethod(win.Document.prototype, "writeln", function (a) { for (var i = 0; i < a.length; i++) { a[i] = html(a[i]); } });
      wrapMethod(win.Range.prototype, "createContextualFragment", function (a) { a[0] = html(a[0]); });
      wrapMethod(win.DOMParser.prototype, "parseFromString", function (a) { a[0] = html(a[0]); });
    }
  }

  // A child frame's window or document, as a script of this page gets it. Same-origin (about:blank
  // where a browser gives it its creator's origin): a fresh realm with pristine prototypes, guarded
  // before the script gets it. Cross-origin (what Chromium makes of every child of the sandbox):
  // its location cannot be wrapped, and a script setting it would take the frame to the live web,
  // so the script gets a stand-in whose location setters go to the archive; MessageEvent.source
  // hands out the same stand-in, so `event.source === frame.contentWindow` still holds.
  var standIns = new WeakMap();
  function child(x) {
    if (!x) { return x; }
    try {
      var win = x.defaultView || x;
      if (win.document) {
        if (!win.__citevaultGuard) { install(win); }
        return x;
      }
    } catch (e) { /* cross-origin */ }
    var known = standIns.get(x);
    if (known) { return known; }
    var loc = {
      get href() { throw new DOMException("Blocked a frame from accessing a cross-origin frame.", "SecurityError"); },
      set href(v) { x.location.href = archived(v, "if_"); },
      replace: function (v) { x.location.replace(archived(v, "if_")); },
    };
    var stand = new Proxy(x, {
      get: function (t, p) {
        if (p === "location") { return loc; }
        var v = t[p];
        return typeof v === "function" ? function () { return v.apply(t, arguments); } : v;
      },
      set: function (t, p, v) {
        if (p === "location") { t.location = archived(v, "if_"); } else { t[p] = v; }
        return true;
      },
    });
    standIns.set(x, stand);
    return stand;
  }

  install(window);
})();
