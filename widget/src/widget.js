/*
 * The booking assistant's chat window for a business's website.
 *
 * One tag puts it on a page:
 *   <script src="https://BOT-HOST/webhooks/webchat/widget.js" defer
 *           data-title="..." data-greeting="..." data-color="#..." data-server="..."></script>
 *
 * It draws a floating button and a chat panel inside a shadow root (the site's CSS
 * cannot break it, and its CSS cannot leak into the site), loads the socket.io client
 * vendored next to this file, and talks to the bot's `webchat` channel. The session id
 * (`web:<random>`) and the rendered history live in localStorage, so a reload keeps the
 * conversation.
 */
(function () {
  "use strict";

  var script =
    document.currentScript ||
    document.querySelector('script[src*="/webchat/widget.js"]');
  if (!script || window.__bookingWebchat) return;
  window.__bookingWebchat = true;

  var BASE = new URL(".", script.src).href;
  var data = script.dataset;
  var config = {
    title: data.title || "Онлайн-запись",
    greeting:
      data.greeting ||
      "Здравствуйте! Напишите, на какую услугу и когда хотите записаться, или задайте вопрос.",
    color: data.color && CSS.supports("color", data.color) ? data.color : "#6b4fa0",
    server: data.server || new URL(script.src).origin,
    socketPath: data.socketPath || "/socket.io/",
  };
  var KEY = "booking-webchat:" + config.server;
  var MAX_HISTORY = 200;
  var TYPING_TIMEOUT_MS = 30000;

  var store = {
    get: function (name, fallback) {
      try {
        var raw = window.localStorage.getItem(KEY + ":" + name);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (e) {
        return fallback;
      }
    },
    set: function (name, value) {
      try {
        window.localStorage.setItem(KEY + ":" + name, JSON.stringify(value));
      } catch (e) {
        /* private mode or full storage: the chat works, it just forgets on reload */
      }
    },
  };

  function newSessionId() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    var text = btoa(String.fromCharCode.apply(null, bytes));
    return "web:" + text.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  // Bot texts are plain text: links become <a>, everything else stays text.
  var URL_RE = /https?:\/\/[^\s<>"«»]+[^\s<>"«».,;:!?)]/g;
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var last = 0;
    text.replace(URL_RE, function (url, at) {
      fragment.appendChild(document.createTextNode(text.slice(last, at)));
      fragment.appendChild(
        el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url })
      );
      last = at + url.length;
      return url;
    });
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  // ---- the DOM --------------------------------------------------------------------

  var host = el("div", { id: "booking-webchat" });
  host.style.setProperty("--bw-color", config.color);
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "widget.css" }));

  var launcher = el("button", {
    class: "launcher",
    type: "button",
    "aria-label": "Открыть чат: " + config.title,
    "aria-expanded": "false",
    "aria-controls": "bw-panel",
  });
  launcher.innerHTML =
    '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';

  var closeButton = el("button", {
    class: "close",
    type: "button",
    "aria-label": "Закрыть чат",
    text: "×",
  });
  var log = el("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Сообщения",
    tabindex: "0",
  });
  var typing = el("div", { class: "typing", role: "status", hidden: "" }, [
    el("span", { class: "sr-only", text: "Бот печатает…" }),
    el("i", { "aria-hidden": "true" }),
    el("i", { "aria-hidden": "true" }),
    el("i", { "aria-hidden": "true" }),
  ]);
  var status = el("div", { class: "status", role: "status", "aria-live": "polite" });
  var input = el("input", {
    id: "bw-input",
    type: "text",
    autocomplete: "off",
    maxlength: "2000",
    placeholder: "Напишите сообщение…",
    "aria-label": "Сообщение",
  });
  var send = el("button", { class: "send", type: "submit", "aria-label": "Отправить" });
  send.innerHTML =
    '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M3 20.5V14l9-2-9-2V3.5L22 12z"/></svg>';
  var form = el("form", { class: "composer" }, [input, send]);
  var panel = el(
    "section",
    { id: "bw-panel", class: "panel", role: "dialog", "aria-label": config.title, hidden: "" },
    [
      el("header", {}, [el("h2", { text: config.title }), closeButton]),
      log,
      typing,
      status,
      form,
    ]
  );
  root.appendChild(launcher);
  root.appendChild(panel);

  // ---- history and rendering ------------------------------------------------------

  var history = store.get("history", []);
  if (!Array.isArray(history)) history = [];

  function clearQuickReplies() {
    var old = log.querySelectorAll(".quick-replies");
    for (var i = 0; i < old.length; i++) old[i].remove();
  }

  function render(entry, live) {
    clearQuickReplies();
    var bubble = el("div", { class: "message " + entry.from });
    bubble.appendChild(
      el("span", { class: "sr-only", text: entry.from === "user" ? "Вы: " : "Бот: " })
    );
    if (entry.image) {
      bubble.appendChild(el("img", { src: entry.image, alt: "Изображение" }));
    }
    if (entry.text) bubble.appendChild(richText(entry.text));
    log.appendChild(bubble);
    if (live && entry.buttons && entry.buttons.length) {
      var row = el("div", { class: "quick-replies", role: "group", "aria-label": "Варианты ответа" });
      entry.buttons.forEach(function (button) {
        var chip = el("button", { type: "button", class: "quick-reply", text: button.title });
        chip.addEventListener("click", function () {
          say(button.title, button.payload);
        });
        row.appendChild(chip);
      });
      log.appendChild(row);
    }
    log.scrollTop = log.scrollHeight;
  }

  function remember(entry) {
    history.push(entry);
    if (history.length > MAX_HISTORY) history = history.slice(-MAX_HISTORY);
    store.set("history", history);
    render(entry, true);
  }

  render({ from: "bot", text: config.greeting }, false);
  history.forEach(function (entry, index) {
    render(entry, index === history.length - 1);
  });

  // ---- the connection -------------------------------------------------------------

  var sessionId = store.get("session", null) || newSessionId();
  var socket = null;
  var ready = false;
  var outbox = [];
  var typingTimer = null;

  function setTyping(on) {
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, TYPING_TIMEOUT_MS);
    log.scrollTop = log.scrollHeight;
  }

  function flush() {
    while (ready && outbox.length) {
      socket.emit("user_uttered", { message: outbox.shift(), session_id: sessionId });
    }
  }

  function say(shown, sent) {
    var text = (sent || shown).trim();
    if (!text) return;
    remember({ from: "user", text: shown.trim() });
    outbox.push(text);
    setTyping(true);
    connect();
    flush();
  }

  function onBotMessage(message) {
    if (!message || typeof message !== "object") return;
    var buttons = (message.quick_replies || message.buttons || [])
      .filter(function (b) { return b && b.title; })
      .map(function (b) { return { title: String(b.title), payload: String(b.payload || b.title) }; });
    var image =
      message.attachment && message.attachment.type === "image" && message.attachment.payload
        ? message.attachment.payload.src
        : undefined;
    if (!message.text && !image) return;
    setTyping(false);
    if (panel.hidden) {
      launcher.classList.add("unread");
      launcher.setAttribute("aria-label", "Открыть чат: новое сообщение");
    }
    remember({ from: "bot", text: message.text || "", buttons: buttons, image: image });
  }

  function loadClient(done) {
    if (loadClient.io) return done(loadClient.io);
    var previous = window.io;
    var tag = el("script", { src: BASE + "vendor/socket.io.min.js", async: "" });
    tag.onload = function () {
      loadClient.io = window.io;
      // Give the site back its own socket.io, if it had one.
      if (previous) window.io = previous;
      done(loadClient.io);
    };
    tag.onerror = function () {
      status.textContent = "Чат временно недоступен. Попробуйте позже.";
    };
    document.head.appendChild(tag);
  }

  function connect() {
    if (socket) return;
    socket = {};
    loadClient(function (io) {
      socket = io(config.server, { path: config.socketPath });
      socket.on("connect", function () {
        status.textContent = "";
        socket.emit("session_request", { session_id: sessionId });
      });
      socket.on("session_confirm", function (confirmed) {
        var id = typeof confirmed === "string" ? confirmed : confirmed && confirmed.session_id;
        if (id) {
          sessionId = id;
          store.set("session", sessionId);
        }
        ready = true;
        flush();
      });
      socket.on("bot_uttered", onBotMessage);
      function lost() {
        ready = false;
        status.textContent = "Нет связи с сервером, переподключаемся…";
      }
      socket.on("disconnect", lost);
      socket.on("connect_error", lost);
    });
  }

  // ---- opening, closing, keyboard -------------------------------------------------

  function setOpen(open, focus) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.hidden = open && window.matchMedia("(max-width: 480px)").matches;
    store.set("open", open);
    if (open) {
      launcher.classList.remove("unread");
      launcher.setAttribute("aria-label", "Открыть чат: " + config.title);
      connect();
      if (focus) input.focus();
      log.scrollTop = log.scrollHeight;
    } else if (focus) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () {
    setOpen(panel.hidden, true);
  });
  closeButton.addEventListener("click", function () {
    setOpen(false, true);
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false, true);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    say(text);
  });

  function mount() {
    document.body.appendChild(host);
    if (store.get("open", false)) setOpen(true, false);
    else if (history.length) connect(); // messages sent to a closed chat still arrive
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
