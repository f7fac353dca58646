/**
 * widget.js: the one script a site embeds. It asks the chat server for the site's look (a
 * stateless, cookieless request), draws the launcher in a Shadow DOM and loads the chat bundle
 * only when the visitor opens the panel (or when this browser already has a conversation with the
 * site). Before that it stores nothing and opens no connection.
 */
import type { Lang, Look, Mount, WidgetController } from "./types";

declare const BUNDLE: string; // hashed bundle file name, injected by build.mjs

const LABELS: Record<Lang, [open: string, unread: string]> = {
  en: ["Open chat", "unread"],
  nl: ["Chat openen", "ongelezen"],
};
const HEX = /^#[0-9a-f]{6}$/;

function pickLang(wanted: string | undefined): Lang {
  for (const tag of [wanted, ...navigator.languages]) {
    const base = (tag || "").slice(0, 2).toLowerCase();
    if (base === "en" || base === "nl") return base;
  }
  return "en";
}

function start(origin: string, site: string, lang: Lang, look: Look): void {
  if (document.querySelector("[data-chat-service]")) return; // the tag is on the page twice
  // The server sends hex colours only; checked again so nothing else can reach the stylesheet.
  const color = HEX.test(look.color || "") ? look.color : "#1f5fbf";
  const text = HEX.test(look.text_color || "") ? look.text_color : "#ffffff";
  const side = look.position === "left" ? "left" : "right";
  const storageKey = "chat-service:" + site;
  const [openLabel, unreadLabel] = LABELS[lang];
  const name = look.launcher || openLabel;

  const host = document.createElement("div");
  host.setAttribute("data-chat-service", site);
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  // Host-page rules cannot reach inside; `all: initial` stops inherited fonts and colours too.
  sheet.replaceSync(
    `:host{all:initial!important;--c:${color};--f:${text}}` +
      `.l{position:fixed;${side}:20px;bottom:20px;z-index:2147483000;min-width:56px;height:56px;border:0;` +
      `border-radius:28px;background:var(--c);color:var(--f);cursor:pointer;display:flex;align-items:center;` +
      `justify-content:center;gap:8px;box-shadow:0 4px 14px rgba(0,0,0,.25);font:700 15px system-ui,sans-serif}` +
      `.l>span:not(.b){padding-right:8px}` +
      `.l:focus-visible{outline:3px solid #111;outline-offset:3px}` +
      `.l svg{width:28px;height:28px;fill:currentColor}` +
      `.b{position:absolute;top:-4px;${side === "left" ? "right" : "left"}:-4px;min-width:20px;height:20px;` +
      `padding:0 5px;box-sizing:border-box;border-radius:10px;background:#b3261e;color:#fff;font-size:12px;line-height:20px}`,
  );
  root.adoptedStyleSheets = [sheet];

  const launcher = document.createElement("button");
  launcher.className = "l";
  launcher.type = "button";
  launcher.setAttribute("aria-label", name);
  launcher.setAttribute("aria-expanded", "false");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  svg.append(path);
  const badge = document.createElement("span");
  badge.className = "b";
  badge.hidden = true;
  badge.setAttribute("aria-hidden", "true");
  launcher.append(svg, badge);
  if (look.launcher) {
    const label = document.createElement("span");
    label.textContent = look.launcher;
    label.setAttribute("aria-hidden", "true"); // the button's name says it already
    launcher.append(label);
  }
  root.append(launcher);

  let chat: Promise<WidgetController> | undefined;
  const load = (): Promise<WidgetController> =>
    (chat ??= import(`${origin}/widget/${BUNDLE}`).then(
      (module: { mount: Mount }) =>
        module.mount({
          origin,
          site,
          lang,
          left: side === "left",
          look,
          storageKey,
          root,
          launcher,
          setUnread(count) {
            badge.hidden = !count;
            badge.textContent = String(count);
            launcher.setAttribute("aria-label", count ? `${name} (${count} ${unreadLabel})` : name);
          },
        }),
      (error: unknown) => {
        chat = undefined; // let the next click try again
        throw error;
      },
    ));

  launcher.addEventListener("click", () => {
    load().then((controller) => controller.toggle(), console.warn);
  });

  const attach = (): void => {
    document.body.append(host);
    let resumable = false;
    try {
      resumable = !!localStorage.getItem(storageKey);
    } catch {
      // storage blocked: the visitor simply starts afresh
    }
    // A conversation is going on: reconnect now so replies show as unread on the launcher.
    if (resumable) load().catch(console.warn);
  };
  if (document.body) attach();
  else document.addEventListener("DOMContentLoaded", attach);
}

const current = document.currentScript;
if (current instanceof HTMLScriptElement && !document.querySelector("[data-chat-service]")) {
  const origin = new URL(current.src).origin;
  const site = current.dataset.site || "default";
  const lang = pickLang(current.dataset.lang);
  // The same answer for every visitor of the site: no cookie goes, none comes back.
  fetch(`${origin}/api/widget/site?site=${encodeURIComponent(site)}&lang=${lang}`, {
    credentials: "omit",
    referrerPolicy: "no-referrer",
  })
    .then((response) => (response.ok ? response.json() : {}))
    .catch(() => ({}))
    .then((look: Look) => start(origin, site, lang, look));
}
