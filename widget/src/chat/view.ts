/** The panel's DOM. Message text only ever becomes a Text node: never HTML. */
import { fileLink } from "./attach";
import { botLabel, quickReplies } from "./bot";
import type { ChatMessage } from "./session";
import type { Strings } from "./strings";

export type Delivery = "queued" | "sent" | "delivered" | "failed";

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

export function buildView(s: Strings, lang: string, left: boolean) {
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
  const close = h("button", { type: "button", class: "x", "aria-label": s.close }, "×");
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
  // One scrolling area: the notice first, then the conversation (or the offline form).
  const scroller = h("div", { class: "m", role: "region", "aria-label": s.messages, tabindex: "0" }, notice, log, offline);
  const forget = h("button", { type: "button", class: "f", hidden: "" }, s.forget);
  const transcript = h("button", { type: "button", class: "f", hidden: "" }, s.transcript);
  const panel = h(
    "div",
    { class: left ? "p left" : "p", id: "p", role: "dialog", "aria-labelledby": "h", hidden: "" },
    h("header", {}, h("h2", { id: "h" }, s.title), close),
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

  const keyOf = (m: Pick<ChatMessage, "sender" | "client_id" | "id">): string =>
    m.sender === "visitor" && m.client_id ? "v" + m.client_id : "a" + m.id;

  function setDelivery(row: HTMLElement, state: Delivery): void {
    const label = row.querySelector(".d");
    if (!label || row.dataset.state === "delivered") return;
    row.dataset.state = state;
    row.classList.toggle("e", state === "failed");
    label.textContent = s[state];
  }

  /** Draw a message once (by key); later calls only advance its delivery state. Returns true if new. */
  function show(m: ChatMessage, state: Delivery): boolean {
    const key = keyOf(m);
    const existing = rows.get(key) ?? (m.id ? byId.get(m.id) : undefined);
    if (existing) {
      if (m.id) byId.set(m.id, existing);
      setDelivery(existing, state);
      return false;
    }
    const own = m.sender === "visitor";
    const at = new Date(m.created_at);
    const info = h("p", { class: "i" }, h("time", { datetime: at.toISOString() }, clock.format(at)));
    if (own) info.append(" · ", h("span", { class: "d" }));
    const row = h(
      "div",
      { class: own ? "g v" : "g a" },
      ...botLabel(m, s),
      h(
        "p",
        { class: "t" },
        h("span", { class: "r" }, (own ? s.you : m.bot ? s.bot : s.agent) + ": "),
        m.attachment ? fileLink(m.attachment) : m.text,
      ),
      info,
      ...quickReplies(m),
    );
    rows.set(key, row);
    if (m.id) byId.set(m.id, row);
    setDelivery(row, state);
    log.append(row);
    scroller.scrollTop = scroller.scrollHeight;
    return true;
  }

  function clear(): void {
    rows.forEach((row) => row.remove());
    rows.clear();
    byId.clear();
  }

  /** After a dropped connection, what was on the wire but never acknowledged is queued again. */
  function requeue(): void {
    rows.forEach((row) => row.dataset.state === "sent" && setDelivery(row, "queued"));
  }

  function delivery(clientId: string, state: Delivery): void {
    const row = rows.get("v" + clientId);
    if (row) setDelivery(row, state);
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
    clear,
    requeue,
    delivery,
  };
}

export type View = ReturnType<typeof buildView>;
