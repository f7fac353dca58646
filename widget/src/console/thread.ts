/** The open conversation: history, typing indicator, reply box with canned responses, actions, details. */
import { AckError, type AgentSocket, type Message, type Opened, type Summary } from "./agent";
import type { Canned } from "./api";
import { attachControl, fileView } from "./attachments";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { absolute, clock } from "./time";

export interface ThreadContext {
  t: Translate;
  lang: string;
  me: string;
  socket: AgentSocket;
  canned(): Canned[];
  agents(): { id: string; name: string; online: boolean }[];
  agentName(id: string): string;
}

const TYPING_SHOWN_MS = 8000;
const TYPING_IDLE_MS = 3000;

function newClientId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function safeUrl(raw: string): string | null {
  try {
    const url = new URL(raw);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export class Thread {
  readonly element: HTMLElement;
  readonly heading: HTMLHeadingElement;
  private readonly log: HTMLOListElement;
  private readonly typingNote: HTMLElement;
  private readonly assignment: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly details: HTMLElement;
  private readonly status = new Notice();
  readonly composer: HTMLTextAreaElement;
  private readonly suggestions: HTMLUListElement;
  private readonly ids = new Set<string>();
  private summary: Summary;
  private count: number;
  private typingTimer?: ReturnType<typeof setTimeout>;
  private idleTimer?: ReturnType<typeof setTimeout>;
  private typingSent = false;
  private matches: Canned[] = [];
  private active = 0;

  constructor(
    private readonly ctx: ThreadContext,
    opened: Opened,
    label: string,
    messages: Message[],
  ) {
    const { t } = ctx;
    this.summary = opened;
    this.count = opened.message_count;
    this.heading = h("h2", { id: "thread-title", tabindex: "-1" }, label);
    this.assignment = h("p", { class: "assignment" });
    this.actions = h("div", { class: "actions", role: "group", "aria-label": t("actions") });
    this.log = h("ol", { class: "messages" });
    this.typingNote = h("p", { class: "typing", hidden: true }, t("typing"));
    const composerId = uid("reply");
    const hintId = uid("hint");
    const listId = uid("canned");
    this.composer = h("textarea", {
      id: composerId,
      rows: "3",
      maxlength: "4000",
      "aria-describedby": hintId,
      "aria-controls": listId,
      autocomplete: "off",
    });
    this.suggestions = h("ul", { id: listId, class: "suggestions", role: "listbox", "aria-label": t("cannedList"), hidden: true });
    const send = h("button", { type: "submit", class: "primary" }, t("send"));
    const form = h(
      "form",
      { class: "composer" },
      h("label", { for: composerId }, t("reply")),
      this.composer,
      this.suggestions,
      h("p", { id: hintId, class: "hint" }, t("replyHint")),
      attachControl(opened.id, ctx.lang, (m) => this.received(m), (text) => this.status.failure(text)),
      send,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.composer.addEventListener("keydown", (event) => this.onKey(event));
    this.composer.addEventListener("input", () => this.onInput());
    this.composer.addEventListener("blur", () => this.stopTyping());
    this.details = h("section", { class: "details", "aria-labelledby": "details-title" });
    this.renderDetails(opened);

    this.element = h(
      "div",
      { class: "thread-inner" },
      h(
        "section",
        { class: "conversation", "aria-labelledby": "thread-title" },
        h("header", { class: "thread-head" }, this.heading, this.assignment, this.actions),
        this.status.element,
        h("div", { class: "log", role: "log", "aria-label": t("history"), tabindex: "0" }, this.log),
        this.typingNote,
        form,
      ),
      this.details,
    );
    for (const message of messages) this.append(message);
    this.update(opened);
  }

  get id(): string {
    return this.summary.id;
  }

  /** A message for this conversation (live or our own ack); shown once. Returns whether it was new. */
  append(message: Message): boolean {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    const { t, lang } = this.ctx;
    const who =
      message.sender === "visitor"
        ? t("visitor")
        : message.agent_id === this.ctx.me
          ? t("youSender")
          : this.ctx.agentName(message.agent_id ?? "");
    this.log.appendChild(
      h(
        "li",
        { class: `msg ${message.sender}` },
        h("span", { class: "who" }, who + ": "),
        h(
          "span",
          { class: "text" },
          message.attachment ? fileView(message.attachment, lang) : message.unreadable ? "[unreadable]" : message.text,
        ),
        h("time", { datetime: message.created_at }, clock(message.created_at, lang)),
      ),
    );
    this.log.parentElement?.scrollTo?.({ top: this.log.scrollHeight });
    if (message.sender === "visitor") this.setTyping(false);
    return true;
  }

  /** Count a new message and tell the server this agent has seen everything so far. */
  received(message: Message): void {
    if (this.append(message)) {
      this.count += 1;
      void this.markRead();
    }
  }

  markRead(): Promise<unknown> {
    return this.ctx.socket.read(this.id, this.count).catch(() => undefined);
  }

  update(summary: Summary): void {
    const { t } = this.ctx;
    this.summary = summary;
    this.count = Math.max(this.count, summary.message_count);
    const assigned = summary.assigned_agent_id;
    this.assignment.textContent = assigned
      ? t("assignedTo", { name: assigned === this.ctx.me ? t("you") : this.ctx.agentName(assigned) })
      : t("unassigned");
    const closed = summary.status === "closed";
    this.composer.disabled = closed;
    // Sent once, live, when the visitor ends the chat with "forget this device".
    const left = (summary as Summary & { visitor_left?: boolean }).visitor_left === true;
    if (closed) this.status.success(left ? t("visitorLeft") : t("closedNote"));
    else if ([t("closedNote"), t("visitorLeft")].includes(this.status.text)) this.status.clear();
    this.renderActions();
  }

  refreshAgents(): void {
    this.update(this.summary);
  }

  private renderActions(): void {
    const { t } = this.ctx;
    const summary = this.summary;
    const buttons: HTMLElement[] = [];
    if (summary.status === "open") {
      if (summary.assigned_agent_id !== this.ctx.me) {
        const claim = h("button", { type: "button", "data-key": "claim" }, t("claim"));
        claim.addEventListener("click", () => void this.claim());
        buttons.push(claim);
      }
      const selectId = uid("assign");
      const select = h(
        "select",
        { id: selectId, "data-key": "assign-select" },
        this.ctx
          .agents()
          .filter((a) => a.id !== summary.assigned_agent_id)
          .map((a) =>
            h("option", { value: a.id }, `${a.id === this.ctx.me ? t("you") : a.name} (${a.online ? t("online") : t("offlineAgent")})`),
          ),
      );
      const previous = this.actions.querySelector("select")?.value;
      if (previous && Array.from(select.options).some((o) => o.value === previous)) select.value = previous;
      const assign = h("button", { type: "button", "data-key": "assign" }, t("assign"));
      assign.disabled = select.options.length === 0;
      assign.addEventListener("click", () => void this.claim(select.value));
      buttons.push(h("span", { class: "assign" }, h("label", { for: selectId }, t("assignTo")), select, assign));
      const close = h("button", { type: "button", "data-key": "close" }, t("close"));
      close.addEventListener("click", () => void this.setStatus("close"));
      buttons.push(close);
    } else {
      const reopen = h("button", { type: "button", "data-key": "reopen" }, t("reopen"));
      reopen.addEventListener("click", () => void this.setStatus("reopen"));
      buttons.push(reopen);
    }
    patch(this.actions, buttons);
  }

  private renderDetails(opened: Opened): void {
    const { t, lang } = this.ctx;
    const v = opened.visitor;
    const url = v.page_url ? safeUrl(v.page_url) : null;
    const item = (term: string, value: Node | string | undefined | null): HTMLElement[] => [
      h("dt", {}, term),
      h("dd", {}, value || t("notGiven")),
    ];
    patch(
      this.details,
      h("h2", { id: "details-title" }, t("details")),
      h(
        "dl",
        {},
        item(t("name"), v.name),
        item(t("email"), v.email),
        item(t("language_"), v.language),
        item(
          t("pageUrl"),
          url ? h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, v.page_url ?? "") : v.page_url,
        ),
        item(t("startedAt"), h("time", { datetime: opened.created_at }, absolute(opened.created_at, lang))),
        item(t("noticeVersion"), opened.notice_version),
        item(t("offline"), opened.offline ? t("yes") : t("no")),
      ),
    );
  }

  setTyping(on: boolean, forMs: number = TYPING_SHOWN_MS): void {
    const shown = on && forMs > 0;
    this.typingNote.hidden = !shown;
    clearTimeout(this.typingTimer);
    // The visitor's "stopped typing" can get lost with their connection: do not show it forever.
    if (shown) this.typingTimer = setTimeout(() => (this.typingNote.hidden = true), forMs);
  }

  async claim(agentId?: string): Promise<void> {
    const { t } = this.ctx;
    if (this.summary.status !== "open") return;
    try {
      const { conversation } = await this.ctx.socket.claim(this.id, agentId);
      this.status.clear();
      this.update(conversation);
    } catch (err) {
      if (err instanceof AckError && err.code === "conflict" && typeof err.details.assigned_agent_id === "string") {
        this.status.failure(t("claimLost", { name: this.ctx.agentName(err.details.assigned_agent_id) }));
        this.update({ ...this.summary, assigned_agent_id: err.details.assigned_agent_id });
      } else this.fail(err);
    }
  }

  async setStatus(action: "close" | "reopen"): Promise<void> {
    if ((action === "close") !== (this.summary.status === "open")) return;
    try {
      const call = action === "close" ? this.ctx.socket.closeConversation : this.ctx.socket.reopen;
      this.update((await call(this.id)).conversation);
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.status.failure(this.ctx.t("error", { message: err instanceof Error ? err.message : String(err) }));
  }

  private async send(): Promise<void> {
    const text = this.composer.value.trim();
    if (!text || this.composer.disabled) return;
    this.stopTyping();
    this.composer.value = "";
    this.closeSuggestions();
    try {
      const { message } = await this.ctx.socket.reply(this.id, newClientId(), text);
      this.received(message);
    } catch (err) {
      this.composer.value = text; // nothing is lost: the agent can send it again
      this.fail(err);
    }
  }

  private onInput(): void {
    const query = /^\/([a-z0-9_-]*)$/.exec(this.composer.value);
    if (query) this.openSuggestions(query[1]);
    else this.closeSuggestions();
    if (!this.typingSent && this.composer.value) {
      this.typingSent = true;
      void this.ctx.socket.typing(this.id, true).catch(() => undefined);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.idleTimer);
    if (!this.typingSent) return;
    this.typingSent = false;
    void this.ctx.socket.typing(this.id, false).catch(() => undefined);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.isComposing) return;
    const open = !this.suggestions.hidden && this.matches.length > 0;
    if (open && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : -1) + this.matches.length) % this.matches.length;
      this.renderSuggestions();
    } else if (open && (event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      event.preventDefault();
      this.insert(this.matches[this.active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      if (!this.suggestions.hidden) this.closeSuggestions();
      else this.log.parentElement?.focus();
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void this.send();
    }
  }

  private openSuggestions(prefix: string): void {
    this.matches = this.ctx.canned().filter((c) => c.shortcut.startsWith(prefix));
    this.active = 0;
    this.suggestions.hidden = false;
    this.renderSuggestions();
  }

  private renderSuggestions(): void {
    const { t } = this.ctx;
    if (!this.matches.length) {
      patch(this.suggestions, h("li", { class: "none", role: "option", "aria-disabled": "true" }, t("noCanned")));
      this.composer.removeAttribute("aria-activedescendant");
      return;
    }
    const items = this.matches.map((item, index) => {
      const li = h(
        "li",
        { id: `${this.suggestions.id}-${index}`, role: "option", "aria-selected": index === this.active ? "true" : "false" },
        h("code", {}, "/" + item.shortcut),
        " ",
        item.title,
      );
      li.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep focus in the reply box
        this.insert(item);
      });
      return li;
    });
    patch(this.suggestions, items);
    this.composer.setAttribute("aria-activedescendant", `${this.suggestions.id}-${this.active}`);
  }

  private closeSuggestions(): void {
    this.suggestions.hidden = true;
    this.matches = [];
    this.composer.removeAttribute("aria-activedescendant");
  }

  private insert(item: Canned): void {
    this.composer.value = item.text;
    this.closeSuggestions();
    this.composer.focus();
  }

  dispose(): void {
    this.stopTyping();
    clearTimeout(this.typingTimer);
  }
}

/**
 * Live events that reach the console before the view they belong to exists: the visitor's typing
 * state of every conversation, and the messages that arrive while a conversation is being opened
 * (its history was read before them). A view that becomes ready catches up with both.
 */
export class EarlyEvents {
  private readonly typingSince = new Map<string, number>();
  private opening?: string;
  private early: Message[] = [];

  typing(conversationId: string, on: boolean): void {
    const now = Date.now();
    for (const [id, since] of this.typingSince) if (now - since > TYPING_SHOWN_MS) this.typingSince.delete(id);
    if (on) this.typingSince.set(conversationId, now);
    else this.typingSince.delete(conversationId);
  }

  message(message: Message): void {
    if (message.sender === "visitor") this.typingSince.delete(message.conversation_id);
    if (message.conversation_id === this.opening) this.early.push(message);
  }

  /** A conversation is being opened: keep its messages until its view is ready. */
  startOpening(conversationId: string): void {
    this.opening = conversationId;
    this.early = [];
  }

  /** The view of a conversation is ready: give it what it missed while it was being opened. */
  ready(thread: Thread): void {
    if (this.opening === thread.id) for (const message of this.early) thread.received(message);
    this.opening = undefined;
    this.early = [];
    const since = this.typingSince.get(thread.id);
    if (since !== undefined) thread.setTyping(true, TYPING_SHOWN_MS - (Date.now() - since));
  }
}
