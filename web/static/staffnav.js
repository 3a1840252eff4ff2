// The header of every staff page: links to the staff pages, who is logged in, and "log out".
// Include it on a staff page with a <nav id="staff-nav"> element:
//   <script type="module" src="/static/staffnav.js"></script>
// Page scripts import staffFetch() for their requests: it adds the session's CSRF token to requests
// that change something, and goes to the login page when the session has ended.
import { element } from "./text.js";

const LINKS = [
  { href: "/staff", zh: "参考台", en: "Desk" },
  { href: "/staff/review", zh: "复核队列", en: "Review queue" },
  { href: "/staff/dashboard", zh: "数据面板", en: "Dashboard" },
  { href: "/staff/handoff", zh: "转接码", en: "Handoff code" },
];
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

let sessionPromise = null;

/** Go to the login page, coming back here afterwards. */
export function toLogin() {
  const here = window.location.pathname + window.location.search;
  window.location.assign(`/staff/login?next=${encodeURIComponent(here)}`);
}

/** {username, csrf, expires_at, idle_seconds} of this session (fetched once); to the login page if none. */
export function getSession() {
  if (!sessionPromise) {
    sessionPromise = fetch("/api/staff/session", { cache: "no-store", credentials: "same-origin" }).then(
      async (response) => {
        if (response.status === 401) {
          toLogin();
          throw new Error("not logged in");
        }
        if (!response.ok) throw new Error(`session: ${response.status}`);
        return response.json();
      },
    );
  }
  return sessionPromise;
}

/** fetch() for the staff APIs: the CSRF header on POST/PUT/PATCH/DELETE, the login page on 401. */
export async function staffFetch(url, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const headers = new Headers(options.headers || {});
  if (!SAFE_METHODS.has(method)) headers.set("X-CSRF-Token", (await getSession()).csrf);
  const response = await fetch(url, { ...options, headers, credentials: "same-origin" });
  if (response.status === 401) toLogin();
  return response;
}

async function logOut(button) {
  button.disabled = true;
  try {
    await staffFetch("/api/staff/logout", { method: "POST" });
  } finally {
    window.location.assign("/staff/login");
  }
}

function currentLink(href) {
  const path = window.location.pathname.replace(/\/+$/, "") || "/";
  return path === href;
}

async function fillNav(nav) {
  const list = element("ul", "staff-nav__links");
  for (const link of LINKS) {
    const item = element("li");
    const anchor = element("a", "staff-nav__link", `${link.zh} `);
    anchor.href = link.href;
    const english = element("span", null, link.en);
    english.lang = "en";
    anchor.append(english);
    if (currentLink(link.href)) anchor.setAttribute("aria-current", "page");
    item.append(anchor);
    list.append(item);
  }
  const user = element("span", "staff-nav__user");
  user.id = "staff-user";
  const logout = element("button", "staff-nav__logout", "退出 ");
  logout.type = "button";
  logout.id = "staff-logout";
  const english = element("span", null, "Log out");
  english.lang = "en";
  logout.append(english);
  logout.addEventListener("click", () => logOut(logout));
  nav.replaceChildren(list, user, logout);
  try {
    user.textContent = (await getSession()).username;
  } catch {
    // toLogin() is on its way.
  }
}

const nav = document.getElementById("staff-nav");
if (nav) {
  if (!nav.getAttribute("aria-label")) nav.setAttribute("aria-label", "员工页面 Staff pages");
  fillNav(nav);
}
