/** The panel's DOM. Message text only ever becomes a Text node: never HTML. */
import type { WidgetContext } from "../types";
import { fileLink } from "./attach";
import { botLabel, quickReplies } from "./bot";
import type { ChatMessage } from "./session";
import type { Strings } from "./strings";

export type Delivery = "queued" | "sent" | "delivered" | "seen" | "failed";
export type ReplyTime = "minutes" | "hour" | "hours" | "day";

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const name in attrs) el.setAttribute(name, attrs[name]);
  el.append(...children); // strings are appended as text, so markup in them stays inert
  return el;
}

function field(id: string, label: string, control: HTMLInputElement | HTMLTextAreaElement): HTMLElement[] {
  control.id = id;
  return [h("label", { for: id }, label), control];
}

/** "Anna" -> "A", "De Korenbloem" -> "DK". */
export const initials = (name: string): string =>
  name
    .split(/\s+/)
    .map((word) => word.charAt(0))
    .join("")
    .slice(0, 2)
    .toUpperCase();

export function buildView(s: Strings, ctx: Pick<WidgetContext, "lang" | "left" | "origin" | "look">) {
  const { team_name: team, greeting, logo } = ctx.look;
  const logoUrl = logo ? ctx.origin + logo : "";
  /** A round avatar: the logo, or the initials of `name`. Decorative: the name is in the text. */
  const avatar = (name: string, image = ""): HTMLElement =>
    h("span", { class: "av", "aria-hidden": "true" }, image ? h("img", { src: image, alt: "" }) : initials(name));
  const teamAvatar = (): HTMLElement => avatar(team || s.agent, logoUrl);

  const clock = new Intl.DateTimeFormat(ctx.lang, { hour: "2-digit", minute: "2-digit" });
  const close = h("button", { type: "button", class: "x", "aria-label": s.close }, "×");
  const replyTime = h("p", { class: "rt", hidden: "" });
  const noticeText = h("span");
  const noticeLink = h("a", { target: "_blank", rel: "noopener noreferrer", hidden: "" }, s.privacy);
  const notice = h("p", { class: "n" }, noticeText, " ", noticeLink);
  const log = h("div", { class: "lg", role: "log", "aria-live": "polite", "aria-relevant": "additions" });
  const typing = h("p", { class: "s", hidden: "" }, s.typing);
  const status = h("p", { class: "s", role: "status" });
  const input = h("textarea", { rows: "2", maxlength: "4000", autocomplete: "off" });
  const composer = h(
    "form",
    { class: "c", hidden: "" },
    h("label", { for: "q", class: "r" }, s.yourMessage),
    input,
    h("button", { type: "submit", class: "k" }, s.send),
  );
  input.id = "q";
  const email = h("input", { type: "email", required: "", autocomplete: "email", maxlength: "320" });
  const name = h("input", { type: "text", autocomplete: "name", maxlength: "200" });
  const note = h("textarea", { rows: "4", required: "", maxlength: "4000" });
  const offline = h(
    "form",
    { class: "o", hidden: "" },
    h("p", { class: "n" }, s.offline),
    ...field("e", s.email, email),
    ...field("u", s.name, name),
    ...field("w", s.message, note),
    h("button", { type: "submit", class: "k" }, s.leave),
  );
  // One scrolling area: the greeting and the notice first, then the conversation (or the offline form).
  const scroller = h("div", { class: "m", role: "region", "aria-label": s.messages, tabindex: "0" }, notice, log, offline);
  if (greeting) scroller.prepend(h("div", { class: "a" }, teamAvatar(), h("p", { class: "t" }, greeting)));
  const forget = h("button", { type: "button", class: "f", hidden: "" }, s.forget);
  const transcript = h("button", { type: "button", class: "f", hidden: "" }, s.transcript);
  const header = h("header", {}, h("div", { class: "hd" }, h("h2", { id: "h" }, team || s.title), replyTime), close);
  if (team || logoUrl) header.prepend(teamAvatar());
  const panel = h(
    "div",
    { class: ctx.left ? "p left" : "p", id: "p", role: "dialog", "aria-labelledby": "h", hidden: "" },
    header,
    scroller,
    typing,
    status,
    composer,
    transcript,
    forget,
  );
  const rows = new Map<string, HTMLElement>();
  /** Rows by stored message id: resumed history withholds the first message's client id. */
  const byId = new Map<string, HTMLElement>();
  /** Agents have read everything stored up to this time (ISO 8601, as the server writes it). */
  let seenUntil = "";

  const keyOf = (m: Pick<ChatMessage, "sender" | "client_id" | "id">): string =>
    m.sender === "visitor" && m.client_id ? "v" + m.client_id : "a" + m.id;

  function setDelivery(row: HTMLElement, state: Delivery): void {
    const label = row.querySelector(".d");
    const was = row.dataset.state;
    // Delivered only ever becomes seen, and seen is final.
    if (!label || was === "seen" || (was === "delivered" && state !== "seen")) return;
    row.dataset.state = state;
    row.classList.toggle("e", state === "failed");
    label.textContent = s[state];
  }

  function stamp(row: HTMLElement, m: ChatMessage, state: Delivery): void {
    if (m.id) row.dataset.at = m.created_at; // the server's time: what `seen` receipts compare with
    setDelivery(row, state);
    if (row.dataset.at && row.dataset.at <= seenUntil) setDelivery(row, "seen");
  }

  /** Draw a message once (by key); later calls only advance its delivery state. Returns true if new. */
  function show(m: ChatMessage, state: Delivery): boolean {
    const key = keyOf(m);
    const existing = rows.get(key) ?? (m.id ? byId.get(m.id) : undefined);
    if (existing) {
      if (m.id) byId.set(m.id, existing);
      stamp(existing, m, state);
      return false;
    }
    const own = m.sender === "visitor";
    const agentName = m.agent?.name;
    const at = new Date(m.created_at);
    const info = h("p", { class: "i" }, h("time", { datetime: at.toISOString() }, clock.format(at)));
    const bubble = h(
      "p",
      { class: "t" },
      h("span", { class: "r" }, (own ? s.you : m.bot ? s.bot : agentName || s.agent) + ": "),
      m.attachment ? fileLink(m.attachment) : m.text,
    );
    const column = h("div", { class: "g" }, ...botLabel(m, s), bubble, info, ...quickReplies(m));
    let row = column;
    if (own) {
      column.classList.add("v");
      info.append(" · ", h("span", { class: "d" }));
    } else {
      // Someone answering: their initials (or the team's avatar when names are not shown).
      if (agentName) info.prepend(h("span", { "aria-hidden": "true" }, agentName + " · "));
      row = h("div", { class: "a" }, agentName ? avatar(agentName) : teamAvatar(), column);
    }
    rows.set(key, row);
    if (m.id) byId.set(m.id, row);
    stamp(row, m, state);
    log.append(row);
    scroller.scrollTop = scroller.scrollHeight;
    return true;
  }

  /** An agent read the conversation up to `until`: the visitor's messages until then are seen. */
  function seen(until: string): void {
    if (until <= seenUntil) return;
    seenUntil = until;
    rows.forEach((row) => row.dataset.at && row.dataset.at <= until && setDelivery(row, "seen"));
  }

  function clear(): void {
    rows.forEach((row) => row.remove());
    rows.clear();
    byId.clear();
    seenUntil = "";
  }

  /** After a dropped connection, what was on the wire but never acknowledged is queued again. */
  function requeue(): void {
    rows.forEach((row) => row.dataset.state === "sent" && setDelivery(row, "queued"));
  }

  function delivery(clientId: string, state: Delivery): void {
    const row = rows.get("v" + clientId);
    if (row) setDelivery(row, state);
  }

  function setReplyTime(bucket: ReplyTime | null): void {
    replyTime.textContent = bucket ? s.replies + s[bucket] : "";
    replyTime.hidden = !bucket;
  }

  return {
    panel,
    close,
    notice: { text: noticeText, link: noticeLink },
    log,
    typing,
    status,
    composer,
    input,
    offline,
    offlineFields: { email, name, note },
    forget,
    transcript,
    show,
    seen,
    clear,
    requeue,
    delivery,
    setReplyTime,
  };
}

export type View = ReturnType<typeof buildView>;
