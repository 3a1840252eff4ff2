// The chat widget: talks to Rasa's socketio channel (credentials.yml: user_uttered / bot_uttered,
// session_persistence) with socket.io-client v4, and keeps the conversation across page reloads.
import { element, isLegalLine, renderText } from "./text.js";

const STORE_KEY = "shebaoka.chat.v1";
const MAX_ENTRIES = 200; // enough for a long conversation, small enough for localStorage
const TYPING_TIMEOUT_MS = 20000;

const STRINGS = {
  zh: {
    title: "社保卡激活咨询",
    newChat: "新对话",
    hint: "请输入您关于社保卡激活的问题，例如：社保卡在哪里激活？",
    inputLabel: "您的问题",
    placeholder: "输入问题，回车发送",
    send: "发送",
    connecting: "正在连接…",
    connected: "",
    disconnected: "连接中断，正在重试…",
    unavailable: "聊天服务暂不可用，请稍后再试或拨打12333。",
    feedbackLabel: "这个回答有帮助吗？",
    helpful: "👍 有帮助",
    notHelpful: "👎 没帮助",
    feedbackThanks: "谢谢您的反馈",
    missingLabel: "缺少什么？（可不填）",
    missingSend: "提交",
  },
  en: {
    title: "Social security card activation",
    newChat: "New chat",
    hint: "Ask a question about activating your social security card, e.g. \"Where do I activate my card?\"",
    inputLabel: "Your question",
    placeholder: "Type a question, Enter to send",
    send: "Send",
    connecting: "Connecting…",
    connected: "",
    disconnected: "Connection lost, retrying…",
    unavailable: "The chat service is unavailable; try again later or call 12333.",
    feedbackLabel: "Did this answer help?",
    helpful: "👍 Helpful",
    notHelpful: "👎 Not helpful",
    feedbackThanks: "Thanks for the feedback",
    missingLabel: "What was missing? (optional)",
    missingSend: "Send",
  },
};

const log = document.getElementById("log");
const scroller = document.getElementById("scroll");
const hint = document.getElementById("hint");
const typing = document.getElementById("typing");
const statusLine = document.getElementById("status");
const form = document.getElementById("form");
const input = document.getElementById("input");

const state = loadState();
let socket = null;
let confirmed = false; // true once Rasa has confirmed the session: messages before that are queued
const outbox = [];
let typingTimer = null;
let connectionState = "connecting";

function validButton(button) {
  return button && typeof button.title === "string" && typeof button.payload === "string";
}

function validFeedback(feedback) {
  return (
    feedback === undefined ||
    (feedback &&
      typeof feedback.answered === "string" &&
      (feedback.given === null || feedback.given === "up" || feedback.given === "down"))
  );
}

function validEntry(entry) {
  return (
    entry &&
    (entry.role === "user" || entry.role === "bot") &&
    typeof entry.text === "string" &&
    (entry.buttons === undefined || (Array.isArray(entry.buttons) && entry.buttons.every(validButton))) &&
    validFeedback(entry.feedback)
  );
}

function loadState() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved && Array.isArray(saved.entries)) {
      return {
        sessionId: typeof saved.sessionId === "string" ? saved.sessionId : null,
        language: saved.language === "en" ? "en" : "zh",
        entries: saved.entries.filter(validEntry),
      };
    }
  } catch {
    // A corrupt or foreign value: start afresh rather than fail.
  }
  return { sessionId: null, language: "zh", entries: [] };
}

function saveState() {
  state.entries = state.entries.slice(-MAX_ENTRIES);
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(state));
  } catch {
    // Storage full or disabled (private mode): the chat still works, it just won't survive a reload.
  }
}

function t(key) {
  return STRINGS[state.language][key];
}

function applyLanguage() {
  document.documentElement.lang = state.language === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
  for (const node of document.querySelectorAll("[data-placeholder]")) node.placeholder = t(node.dataset.placeholder);
  for (const button of document.querySelectorAll(".lang__button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === state.language));
  }
  document.title = `${t("title")} · ${state.language === "zh" ? STRINGS.en.title : STRINGS.zh.title}`;
  setStatus(connectionState);
}

function setStatus(name) {
  connectionState = name;
  statusLine.dataset.state = name;
  statusLine.textContent = t(name);
}

function scrollToEnd() {
  scroller.scrollTop = scroller.scrollHeight;
}

function renderEntry(entry) {
  const item = element("li", `msg msg--${entry.role}`);
  if (entry.role === "bot" && isLegalLine(entry.text)) item.classList.add("msg--legal");
  const bubble = element("div", "msg__bubble");
  if (entry.role === "bot") {
    renderText(bubble, entry.text);
  } else {
    bubble.textContent = entry.text; // what the person typed, exactly as typed
  }
  if (entry.text) item.append(bubble);
  if (entry.role === "bot" && entry.buttons && entry.buttons.length && !entry.used) {
    const chips = element("div", "msg__chips");
    for (const button of entry.buttons) {
      const chip = element("button", "chip", button.title);
      chip.type = "button";
      chip.addEventListener("click", () => {
        entry.used = true;
        chips.remove();
        send(button.payload, button.title);
      });
      chips.append(chip);
    }
    item.append(chips);
  }
  if (entry.role === "bot" && entry.feedback) item.append(renderFeedback(entry));
  log.append(item);
}

/** 👍 / 👎 under an answer; a 👎 opens one optional line "what was missing?". */
function renderFeedback(entry) {
  const box = element("div", "feedback");
  const feedback = entry.feedback;
  if (feedback.given) {
    box.append(element("span", "feedback__thanks", t("feedbackThanks")));
  } else {
    box.append(element("span", "feedback__label", t("feedbackLabel")));
    for (const [rating, label] of [
      ["up", t("helpful")],
      ["down", t("notHelpful")],
    ]) {
      const button = element("button", `feedback__button feedback__button--${rating}`, label);
      button.type = "button";
      button.dataset.rating = rating;
      button.addEventListener("click", () => {
        feedback.given = rating;
        saveState();
        send(`/feedback${JSON.stringify({ rating, answered: feedback.answered })}`, null);
        box.replaceWith(renderFeedback(entry));
      });
      box.append(button);
    }
  }
  if (feedback.given === "down" && !feedback.commented) {
    const row = element("form", "feedback__missing");
    const field = element("input", "feedback__input");
    field.type = "text";
    field.maxLength = 500;
    field.placeholder = t("missingLabel");
    field.setAttribute("aria-label", t("missingLabel"));
    const submitButton = element("button", "feedback__send", t("missingSend"));
    submitButton.type = "submit";
    row.append(field, submitButton);
    row.addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = field.value.trim();
      if (!comment) return;
      feedback.commented = true;
      saveState();
      send(`/feedback${JSON.stringify({ rating: "down", comment })}`, null);
      row.remove();
    });
    box.append(row);
  }
  return box;
}

/** The assistant marked the answer it just sent as one to rate: 👍 / 👎 go under its last bubble. */
function markForFeedback(marker) {
  if (!marker || typeof marker.answered !== "string") return;
  const last = [...state.entries].reverse().find((entry) => entry.role === "bot");
  if (!last || last.feedback) return;
  last.feedback = { answered: marker.answered, given: null };
  saveState();
  renderTranscript();
}

function addEntry(entry) {
  state.entries.push(entry);
  saveState();
  hint.hidden = true;
  renderEntry(entry);
  scrollToEnd();
}

function renderTranscript() {
  log.replaceChildren();
  for (const entry of state.entries) renderEntry(entry);
  hint.hidden = state.entries.length > 0;
  scrollToEnd();
}

function showTyping(on) {
  clearTimeout(typingTimer);
  typing.hidden = !on;
  if (on) {
    typingTimer = setTimeout(() => (typing.hidden = true), TYPING_TIMEOUT_MS);
    scrollToEnd();
  }
}

function flush() {
  if (!socket || !confirmed) return;
  while (outbox.length) {
    socket.emit("user_uttered", { message: outbox.shift(), session_id: state.sessionId });
  }
}

/** Send `payload` to Rasa; show `shown` as the person's bubble (null: a hidden command). */
function send(payload, shown) {
  if (shown !== null) addEntry({ role: "user", text: shown });
  outbox.push(payload);
  showTyping(true);
  flush();
}

function onBotMessage(message) {
  if (!message || typeof message !== "object") return;
  if (message.feedback) {
    markForFeedback(message.feedback);
    return;
  }
  const text = typeof message.text === "string" ? message.text : "";
  const raw = message.quick_replies || message.buttons || [];
  const buttons = Array.isArray(raw) ? raw.filter(validButton).map((b) => ({ title: b.title, payload: b.payload })) : [];
  if (!text && !buttons.length) return; // attachments and custom payloads are not used by this assistant
  showTyping(false);
  addEntry(buttons.length ? { role: "bot", text, buttons } : { role: "bot", text });
}

function connect(rasaUrl, socketPath) {
  socket = window.io(rasaUrl, {
    path: socketPath,
    // WebSocket first (no CORS needed); long polling if a proxy blocks WebSockets.
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    reconnectionDelayMax: 10000,
  });
  socket.on("connect", () => {
    confirmed = false;
    setStatus("connecting");
    // Rasa joins this socket to the session's room: the same conversation after a reload.
    socket.emit("session_request", { session_id: state.sessionId });
  });
  socket.on("session_confirm", (data) => {
    const id = typeof data === "string" ? data : data && data.session_id;
    if (typeof id === "string" && id) {
      state.sessionId = id;
      saveState();
    }
    confirmed = true;
    setStatus("connected");
    flush();
  });
  socket.on("bot_uttered", onBotMessage);
  socket.on("disconnect", () => {
    confirmed = false;
    setStatus("disconnected");
  });
  socket.on("connect_error", () => setStatus("disconnected"));
}

function switchLanguage(language) {
  if (language === state.language) return;
  state.language = language;
  saveState();
  applyLanguage();
  // A command for Rasa, not something the person said: no bubble.
  send(`/switch_language{"language":"${language}"}`, null);
}

function newChat() {
  state.entries = [];
  state.sessionId = null;
  outbox.length = 0;
  saveState();
  renderTranscript();
  showTyping(false);
  if (socket) {
    // A fresh socket leaves the old session's room; the next session_request starts a new one.
    socket.disconnect();
    socket.connect();
  }
}

function submit() {
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  autoGrow();
  send(text, text);
}

function autoGrow() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

async function start() {
  applyLanguage();
  renderTranscript();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter while an IME is composing picks characters.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", autoGrow);
  for (const button of document.querySelectorAll(".lang__button")) {
    button.addEventListener("click", () => switchLanguage(button.dataset.lang));
  }
  document.getElementById("new-chat").addEventListener("click", newChat);

  if (typeof window.io !== "function") {
    setStatus("unavailable"); // the client library was not installed (npm ci --prefix web)
    return;
  }
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    const config = await response.json();
    connect(config.rasaUrl, config.socketPath || "/socket.io");
  } catch {
    setStatus("unavailable");
  }
}

start();
