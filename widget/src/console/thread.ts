/** The open conversation: history with internal notes, typing indicators, the reply box (reply or
 * internal note) with canned responses, and the actions. The details pane is `details.ts`. */
import { AckError, type AgentSocket, type Message, type Note, type Opened, type Summary } from "./agent";
import type { Canned } from "./api";
import { attachControl, fileView } from "./attachments";
import { author } from "./authors";
import { h, Notice, patch, uid } from "./dom";
import { emailReplyButton } from "./emailreply";
import type { Translate } from "./strings";
import { clock } from "./time";

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

export class Thread {
  readonly element: HTMLElement;
  readonly heading: HTMLHeadingElement;
  private readonly log: HTMLOListElement;
  private readonly typingNote: HTMLElement;
  private readonly assignment: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly status = new Notice();
  private readonly colleagues = h("p", { class: "colleagues", role: "status" });
  private readonly composerLabel: HTMLLabelElement;
  private readonly composerHint: HTMLElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly form: HTMLFormElement;
  private mode: "reply" | "note" = "reply";
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
    notes: Note[] = [],
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
    this.sendButton = h("button", { type: "submit", class: "primary" }, t("send"));
    this.composerLabel = h("label", { for: composerId }, t("reply"));
    this.composerHint = h("p", { id: hintId, class: "hint" }, t("replyHint"));
    const modeName = uid("mode");
    const modes = h(
      "fieldset",
      { class: "modes" },
      h("legend", { class: "sr" }, t("composeMode")),
      (["reply", "note"] as const).map((mode) => {
        const id = uid("mode");
        const radio = h("input", { type: "radio", name: modeName, id, value: mode, checked: mode === "reply" });
        radio.addEventListener("change", () => this.setMode(mode));
        return h("span", { class: `mode ${mode}` }, radio, h("label", { for: id }, mode === "reply" ? t("replyMode") : t("noteMode")));
      }),
    );
    this.form = h(
      "form",
      { class: "composer" },
      modes,
      this.composerLabel,
      this.composer,
      this.suggestions,
      this.composerHint,
      attachControl(opened.id, ctx.lang, (m) => this.received(m), (text) => this.status.failure(text)),
      this.sendButton,
      ...emailReplyButton(opened, {
        lang: ctx.lang,
        socket: ctx.socket,
        composer: this.composer,
        clientId: newClientId,
        sent: (message, note) => {
          this.received(message);
          this.status.success(note);
        },
        failed: (err) => this.fail(err),
      }),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.composer.addEventListener("keydown", (event) => this.onKey(event));
    this.composer.addEventListener("input", () => this.onInput());
    this.composer.addEventListener("blur", () => this.stopTyping());

    this.element = h(
      "section",
      { class: "conversation", "aria-labelledby": "thread-title" },
      h("header", { class: "thread-head" }, this.heading, this.assignment, this.actions),
      this.status.element,
      h("div", { class: "log", role: "log", "aria-label": t("history"), tabindex: "0" }, this.log),
      this.typingNote,
      this.colleagues,
      this.form,
    );
    const entries: [string, () => void][] = [
      ...messages.map((m): [string, () => void] => [m.created_at, () => this.append(m)]),
      ...notes.map((n): [string, () => void] => [n.created_at, () => this.appendNote(n)]),
    ];
    entries.sort((a, b) => a[0].localeCompare(b[0]));
    for (const [, add] of entries) add();
    this.update(opened);
  }

  private setMode(mode: "reply" | "note"): void {
    const { t } = this.ctx;
    this.stopTyping();
    this.mode = mode;
    this.form.classList.toggle("note-mode", mode === "note");
    this.composerLabel.textContent = mode === "note" ? t("noteMode") : t("reply");
    this.composerHint.textContent = mode === "note" ? t("noteHint") : t("replyHint");
    this.sendButton.textContent = mode === "note" ? t("addNote") : t("send");
    this.refreshComposer();
  }

  /** A note can be added to a closed conversation; a reply cannot. */
  private refreshComposer(): void {
    this.composer.disabled = this.mode === "reply" && this.summary.status === "closed";
  }

  /** An internal note (ours, or a colleague's live): shown once, marked as internal. */
  appendNote(note: Note): boolean {
    if (this.ids.has(note.id)) return false;
    this.ids.add(note.id);
    const { t, lang } = this.ctx;
    this.log.appendChild(
      h(
        "li",
        { class: "msg note" },
        h("span", { class: "who" }, t("noteBy", { name: author(this.ctx, "agent", note.author_id) }) + ": "),
        h("span", { class: "text" }, note.unreadable ? t("unreadableText") : note.text),
        h("time", { datetime: note.created_at }, clock(note.created_at, lang)),
      ),
    );
    this.log.parentElement?.scrollTo?.({ top: this.log.scrollHeight });
    return true;
  }

  /** Who else shows this conversation now, and whether they are typing (from `colleague` events). */
  showColleagues(present: Map<string, boolean>): void {
    const { t } = this.ctx;
    const lines = [...present].map(([userId, typing]) =>
      t(typing ? "typingNow" : "viewingNow", { name: this.ctx.agentName(userId) }),
    );
    this.colleagues.textContent = lines.join(" · ");
  }

  get id(): string {
    return this.summary.id;
  }

  /** A message for this conversation (live or our own ack); shown once. Returns whether it was new. */
  append(message: Message): boolean {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    const { t, lang } = this.ctx;
    const who = author(this.ctx, message.sender, message.agent_id, message.bot?.name);
    this.log.appendChild(
      h(
        "li",
        { class: `msg ${message.sender}` },
        h("span", { class: "who" }, who + ": "),
        h(
          "span",
          { class: "text" },
          message.attachment ? fileView(message.attachment, lang) : message.unreadable ? t("unreadableText") : message.text,
        ),
        message.buttons?.length
          ? h(
              "ul",
              { class: "buttons", "aria-label": t("quickReplies") },
              message.buttons.map((b) => h("li", {}, b.title)),
            )
          : null,
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
    this.assignment.textContent =
      summary.status === "bot"
        ? t("botAnswering")
        : assigned
          ? t("assignedTo", { name: assigned === this.ctx.me ? t("you") : this.ctx.agentName(assigned) })
          : t("unassigned");
    const closed = summary.status === "closed";
    this.refreshComposer();
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
    if (summary.status === "bot") {
      const take = h("button", { type: "button", class: "primary", "data-key": "take-over" }, t("takeOver"));
      take.addEventListener("click", () => void this.takeOver());
      buttons.push(take);
    } else if (summary.status !== "closed") {
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
    }
    if (summary.status === "closed") {
      const reopen = h("button", { type: "button", "data-key": "reopen" }, t("reopen"));
      reopen.addEventListener("click", () => void this.setStatus("reopen"));
      buttons.push(reopen);
    }
    patch(this.actions, buttons);
  }

  setTyping(on: boolean, forMs: number = TYPING_SHOWN_MS): void {
    const shown = on && forMs > 0;
    this.typingNote.hidden = !shown;
    clearTimeout(this.typingTimer);
    // The visitor's "stopped typing" can get lost with their connection: do not show it forever.
    if (shown) this.typingTimer = setTimeout(() => (this.typingNote.hidden = true), forMs);
  }

  /** The bot goes silent and the conversation is mine. */
  async takeOver(): Promise<void> {
    try {
      this.update((await this.ctx.socket.takeOver(this.id)).conversation);
      this.status.clear();
      this.composer.focus();
    } catch (err) {
      this.fail(err);
    }
  }

  async claim(agentId?: string): Promise<void> {
    const { t } = this.ctx;
    if (this.summary.status === "bot") return this.takeOver();
    if (this.summary.status === "closed") return;
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
    if ((action === "close") !== (this.summary.status !== "closed")) return;
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
      if (this.mode === "note") this.appendNote((await this.ctx.socket.note(this.id, text)).note);
      else this.received((await this.ctx.socket.reply(this.id, newClientId(), text)).message);
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
      void this.ctx.socket.typing(this.id, true, this.mode === "note").catch(() => undefined);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.idleTimer);
    if (!this.typingSent) return;
    this.typingSent = false;
    void this.ctx.socket.typing(this.id, false, this.mode === "note").catch(() => undefined);
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
