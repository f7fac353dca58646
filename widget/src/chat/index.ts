/**
 * The chat bundle, loaded by widget.js on first open. It asks the server once whether an agent
 * is online (a stateless request) and connects only when the visitor sends a message.
 */
import type { Mount, WidgetController } from "../types";
import { attachButton, setup, upload } from "./attach";
import { mountBot } from "./bot";
import { csatForm } from "./csat";
import { ChatSession, type Profile } from "./session";
import { STRINGS } from "./strings";
import { CSS } from "./styles";
import { buildView, type ReplyTime } from "./view";

interface Availability {
  online: boolean;
  reply_time: ReplyTime | null;
  notice: { version: string; text: string; link: string | null };
  bot: { name: string; greeting: string | null; within_hours: boolean } | null;
}

const TYPING_IDLE_MS = 3000;
const AGENT_TYPING_MS = 8000;

export const mount: Mount = (ctx): WidgetController => {
  const s = STRINGS[ctx.lang];
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  ctx.root.adoptedStyleSheets = [...ctx.root.adoptedStyleSheets, sheet];
  const view = buildView(s, ctx);
  ctx.root.insertBefore(view.panel, ctx.launcher);
  ctx.launcher.setAttribute("aria-controls", "p");

  let open = false;
  let unread = 0;
  let checked = false;
  let typingOn = false;
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  let agentTypingTimer: ReturnType<typeof setTimeout> | undefined;

  const say = (text: string): void => {
    view.status.textContent = text;
  };

  const session = new ChatSession(ctx.origin, ctx.site, ctx.storageKey, {
    stored(message, live) {
      const isNew = view.show(message, "delivered");
      if (message.sender != "visitor") {
        // A person answering took the conversation over: no more "Talk to a person".
        if (!message.bot) bot.status("open");
        view.typing.hidden = true;
        if (isNew && live && !open) ctx.setUnread(++unread);
        // Someone answered here: the "we will answer by e-mail" promise no longer describes it.
        if (view.status.textContent === s.thanks) say("");
      }
      startConversation();
    },
    sent: (clientId) => view.delivery(clientId, "sent"),
    queued: (clientId) => view.delivery(clientId, "queued"),
    paused(seconds) {
      if (seconds > 0) say(s.wait.replace("{seconds}", String(seconds)));
      else if (view.status.textContent?.startsWith(s.wait.split("{seconds}")[0])) say("");
    },
    failed: (clientId) => view.delivery(clientId, "failed"),
    seen: view.seen,
    typing(on) {
      view.typing.hidden = !on;
      clearTimeout(agentTypingTimer);
      if (on) agentTypingTimer = setTimeout(() => (view.typing.hidden = true), AGENT_TYPING_MS);
    },
    status(status, handed) {
      say(status === "closed" ? s.closed : "");
      bot.status(status, handed);
      rating.hidden = status !== "closed";
    },
    connection(up) {
      if (!up) view.requeue();
      if (!up) say(s.reconnecting);
      else if (view.status.textContent === s.reconnecting) say("");
    },
    reset() {
      view.clear();
      view.forget.hidden = view.transcript.hidden = attach.hidden = true;
      view.notice.text.hidden = false;
      rating.hidden = true;
      say(s.forgotten);
    },
  });

  const rating = csatForm(s, (n, comment) => session.rate(n, comment));
  view.log.after(rating);
  const started = (): boolean => !view.forget.hidden;
  const bot = mountBot(view, s, session, write, say);

  setup(ctx.origin, () => session.token);
  const attach = attachButton(s.attach, (file) =>
    upload(file).then((a) => view.show(a.message, "delivered"), () => say(s.failed)),
  );
  view.composer.insertBefore(attach, view.composer.lastChild);

  function startConversation(): void {
    view.forget.hidden = view.transcript.hidden = attach.hidden = !session.token;
    // The notice is about what happens before contact; once there is a conversation it only
    // takes room (the privacy link stays).
    view.notice.text.hidden = !!session.token;
    view.offline.hidden = true;
    view.composer.hidden = false;
  }

  function firstProfile(extra: Profile = {}): Profile {
    const page = location.origin + location.pathname;
    return { ...extra, language: ctx.lang, page_url: /^https?:/.test(page) ? page.slice(0, 2048) : undefined };
  }

  function focusField(): void {
    (view.composer.hidden ? view.offlineFields.email : view.input).focus();
  }

  async function checkAvailability(): Promise<void> {
    checked = true;
    try {
      const url = `${ctx.origin}/api/widget/availability?site=${encodeURIComponent(ctx.site)}&lang=${ctx.lang}`;
      const response = await fetch(url, { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
      if (!response.ok) throw new Error(String(response.status));
      const { online, reply_time, notice, bot: greeter } = (await response.json()) as Availability;
      view.setReplyTime(online ? reply_time : null);
      session.noticeVersion = notice.version;
      view.notice.text.textContent = notice.text;
      if (notice.link) view.notice.link.href = notice.link;
      view.notice.link.hidden = !notice.link;
      // A bot answers within office hours even when no one is online; outside them, the form.
      if (started() || online || greeter?.within_hours) view.composer.hidden = false;
      else view.offline.hidden = false;
      if (!started() && !view.composer.hidden) bot.greet(greeter);
      if (open) focusField();
    } catch {
      checked = false; // try again on the next open
      say(s.unavailable);
    }
  }

  function toggle(force?: boolean): void {
    open = force ?? !open;
    view.panel.hidden = !open;
    ctx.launcher.setAttribute("aria-expanded", String(open));
    if (!open) return;
    ctx.setUnread((unread = 0));
    if (!checked) void checkAvailability();
    if (!view.composer.hidden || !view.offline.hidden) focusField();
  }

  function closePanel(): void {
    toggle(false);
    ctx.launcher.focus();
  }

  function stopTyping(): void {
    clearTimeout(typingTimer);
    if (typingOn) session.typing((typingOn = false));
  }

  view.close.addEventListener("click", closePanel);
  view.panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel();
  });

  function write(text: string): void {
    const first = started() ? undefined : { profile: firstProfile() };
    const clientId = session.send(text, first);
    view.show({ id: "", sender: "visitor", client_id: clientId, text, created_at: new Date().toISOString() }, "queued");
  }

  view.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = view.input.value.trim();
    if (!text) return;
    write(text);
    view.input.value = "";
    stopTyping();
  });
  view.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      view.composer.requestSubmit();
    }
  });
  view.input.addEventListener("input", () => {
    if (!typingOn) session.typing((typingOn = true));
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });

  view.offline.addEventListener("submit", (event) => {
    event.preventDefault();
    const { email, name, note } = view.offlineFields;
    const text = note.value.trim();
    if (!text) return note.focus();
    const profile = firstProfile({ email: email.value.trim(), name: name.value.trim() || undefined });
    const clientId = session.send(text, { profile, offline: true });
    view.show({ id: "", sender: "visitor", client_id: clientId, text, created_at: new Date().toISOString() }, "queued");
    view.offline.reset();
    view.offline.hidden = true;
    view.composer.hidden = false;
    say(s.thanks);
    view.input.focus();
  });

  // The visitor's explicit request, to an address they type now (sent by the server's outbox).
  view.transcript.addEventListener("click", () => {
    const email = prompt(s.email)?.trim();
    if (email) session.transcript(email, (ok) => say(ok ? s.mailed : s.failed));
  });

  view.forget.addEventListener("click", () => {
    session.forget();
    view.input.focus();
  });

  if (session.token) {
    startConversation();
    session.connect();
  }
  return { toggle };
};
