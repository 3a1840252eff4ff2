// The staff login page: POST /api/staff/login, then on to the page that sent us here (?next=, a local
// path: the server checks it again and answers with the one to use).
const form = document.getElementById("login-form");
const username = document.getElementById("username");
const password = document.getElementById("password");
const button = document.getElementById("login-button");
const message = document.getElementById("message");
const setup = document.getElementById("setup");

const DEFAULT_NEXT = "/staff";

/** A path on this server, else the desk (the server applies the same rule). */
function localPath(value) {
  if (!value || !value.startsWith("/") || value.startsWith("//") || value.includes("\\")) return DEFAULT_NEXT;
  if (value.startsWith("/staff/login") || value.startsWith("/api/")) return DEFAULT_NEXT;
  return value;
}

const next = localPath(new URLSearchParams(window.location.search).get("next"));

function show(text) {
  message.textContent = text;
}

async function checkStatus() {
  try {
    const response = await fetch("/api/staff/login", { cache: "no-store" });
    const status = await response.json();
    if (status.username) {
      window.location.replace(next); // still logged in
      return;
    }
    setup.hidden = Boolean(status.accounts);
  } catch {
    // The form still works; the POST will say what is wrong.
  }
}

async function submit(event) {
  event.preventDefault();
  show("");
  button.disabled = true;
  let response;
  let data = {};
  try {
    response = await fetch("/api/staff/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: username.value.trim(), password: password.value, next }),
      // The server's page-wide policy is no-referrer, which would send "Origin: null" on this POST;
      // the login checks that it comes from this origin.
      referrerPolicy: "same-origin",
      credentials: "same-origin",
    });
    data = await response.json().catch(() => ({}));
  } catch {
    show("网络错误，请重试。Network error, please try again.");
    button.disabled = false;
    return;
  }
  if (response.ok) {
    window.location.assign(localPath(data.next));
    return;
  }
  password.value = "";
  button.disabled = false;
  password.focus();
  show(data.error || `登录失败 Login failed (${response.status})`);
}

form.addEventListener("submit", submit);
checkStatus();
