/**
 * widget.js: the one script a site embeds. It draws the launcher in a Shadow DOM and loads the
 * chat bundle only when the visitor opens the panel (or when this browser already has a
 * conversation with the site). Before that it stores nothing and talks to no one.
 */
import type { Lang, Mount, WidgetController } from "./types";

declare const BUNDLE: string; // hashed bundle file name, injected by build.mjs

const LABELS: Record<Lang, [open: string, unread: string]> = {
  en: ["Open chat", "unread"],
  nl: ["Chat openen", "ongelezen"],
};

function pickLang(wanted: string | undefined): Lang {
  for (const tag of [wanted, ...navigator.languages]) {
    const base = (tag || "").slice(0, 2).toLowerCase();
    if (base === "en" || base === "nl") return base;
  }
  return "en";
}

/** Black or white text on the brand colour, whichever reads better (WCAG contrast). */
function foreground(hex: string): string {
  const n = hex.length === 4 ? hex.replace(/\w/g, "$&$&") : hex;
  const lum = [1, 3, 5]
    .map((i) => parseInt(n.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  return 1.05 / (lum + 0.05) >= 4.5 ? "#fff" : "#111";
}

function start(script: HTMLScriptElement): void {
  const data = script.dataset;
  const origin = new URL(script.src).origin;
  const site = data.site || "default";
  const lang = pickLang(data.lang);
  const color = /^#([0-9a-f]{3}){1,2}$/i.test(data.color || "") ? (data.color as string) : "#1f5fbf";
  const side = data.position === "left" ? "left" : "right";
  const storageKey = "chat-service:" + site;
  const [openLabel, unreadLabel] = LABELS[lang];

  const host = document.createElement("div");
  host.setAttribute("data-chat-service", site);
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  // Host-page rules cannot reach inside; `all: initial` stops inherited fonts and colours too.
  sheet.replaceSync(
    `:host{all:initial!important;--c:${color};--f:${foreground(color)}}` +
      `.l{position:fixed;${side}:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border:0;` +
      `border-radius:50%;background:var(--c);color:var(--f);cursor:pointer;display:grid;place-items:center;` +
      `box-shadow:0 4px 14px rgba(0,0,0,.25);font:700 12px system-ui,sans-serif}` +
      `.l:focus-visible{outline:3px solid #111;outline-offset:3px}` +
      `.l svg{width:28px;height:28px;fill:currentColor}` +
      `.b{position:absolute;top:-4px;${side === "left" ? "right" : "left"}:-4px;min-width:20px;height:20px;` +
      `padding:0 5px;box-sizing:border-box;border-radius:10px;background:#b3261e;color:#fff;line-height:20px}`,
  );
  root.adoptedStyleSheets = [sheet];

  const launcher = document.createElement("button");
  launcher.className = "l";
  launcher.type = "button";
  launcher.setAttribute("aria-label", openLabel);
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
          storageKey,
          root,
          launcher,
          setUnread(count) {
            badge.hidden = !count;
            badge.textContent = String(count);
            launcher.setAttribute("aria-label", count ? `${openLabel} (${count} ${unreadLabel})` : openLabel);
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
if (current instanceof HTMLScriptElement && !document.querySelector("[data-chat-service]")) start(current);
