/** The details pane of an open conversation: the visitor, labels, and their earlier conversations. */
import type { AgentSocket, Opened, Summary } from "./agent";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { absolute, day } from "./time";

const LABEL = /^[\p{L}\p{N}][\p{L}\p{N}_ -]{0,31}$/u;
const MAX_LABELS = 10;

export interface DetailsContext {
  t: Translate;
  lang: string;
  socket: AgentSocket;
  href(id: string): string;
  open(id: string): void;
}

function safeUrl(raw: string): string | null {
  try {
    const url = new URL(raw);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export class Details {
  readonly element: HTMLElement;
  private readonly chips = h("ul", { class: "chips" });
  private readonly labelInput: HTMLInputElement;
  private readonly suggestions: HTMLDataListElement;
  private readonly labelNotice = new Notice();
  private readonly earlierList = h("div", { class: "earlier" });
  private labels: string[];

  constructor(
    private readonly ctx: DetailsContext,
    private readonly opened: Opened,
  ) {
    const { t } = ctx;
    this.labels = [...(opened.labels ?? [])];
    const inputId = uid("label");
    const listId = uid("labels");
    this.suggestions = h("datalist", { id: listId });
    this.labelInput = h("input", {
      id: inputId,
      list: listId,
      maxlength: "32",
      autocomplete: "off",
      "data-key": "label-input",
    });
    const add = h("button", { type: "submit" }, t("add"));
    const form = h(
      "form",
      { class: "label-form" },
      h("label", { for: inputId }, t("addLabel")),
      h("span", { class: "inline" }, this.labelInput, add),
      this.suggestions,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.addLabel();
    });
    this.element = h(
      "div",
      { class: "details" },
      h("h2", { id: "details-title" }, t("details")),
      this.visitorList(),
      h("h3", {}, t("labels")),
      this.chips,
      form,
      this.labelNotice.element,
      h("h3", {}, t("earlier")),
      this.earlierList,
    );
    this.renderLabels();
    void this.loadSuggestions();
    void this.loadEarlier();
  }

  get id(): string {
    return this.opened.id;
  }

  /** A colleague changed the labels (or we did): show the server's set. */
  update(summary: Summary): void {
    if (!summary.labels) return;
    this.labels = [...summary.labels];
    this.renderLabels();
  }

  private visitorList(): HTMLElement {
    const { t, lang } = this.ctx;
    const opened = this.opened;
    const v = opened.visitor;
    const url = v.page_url ? safeUrl(v.page_url) : null;
    const item = (term: string, value: Node | string | undefined | null): HTMLElement[] => [
      h("dt", {}, term),
      h("dd", {}, value || t("notGiven")),
    ];
    return h(
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
    );
  }

  private renderLabels(): void {
    const { t } = this.ctx;
    if (!this.labels.length) {
      patch(this.chips, h("li", { class: "hint" }, t("noLabels")));
      return;
    }
    patch(
      this.chips,
      this.labels.map((label) => {
        const remove = h(
          "button",
          { type: "button", class: "chip-remove", "aria-label": t("removeLabel", { label }), "data-key": `rm-${label}` },
          "×",
        );
        remove.addEventListener("click", () => void this.save(this.labels.filter((l) => l !== label)));
        return h("li", { class: "chip" }, label, " ", remove);
      }),
    );
  }

  private async addLabel(): Promise<void> {
    const { t } = this.ctx;
    const label = this.labelInput.value.split(/\s+/).filter(Boolean).join(" ").toLowerCase();
    if (!label) return;
    if (!LABEL.test(label)) {
      this.labelNotice.failure(t("labelInvalid"));
      return;
    }
    if (this.labels.includes(label)) {
      this.labelInput.value = "";
      return;
    }
    if (this.labels.length >= MAX_LABELS) {
      this.labelNotice.failure(t("labelsMax"));
      return;
    }
    if (await this.save([...this.labels, label])) this.labelInput.value = "";
  }

  private async save(labels: string[]): Promise<boolean> {
    const { t } = this.ctx;
    try {
      const { conversation } = await this.ctx.socket.setLabels(this.id, labels);
      this.labelNotice.clear();
      this.update(conversation);
      void this.loadSuggestions();
      return true;
    } catch (err) {
      this.labelNotice.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));
      return false;
    }
  }

  private async loadSuggestions(): Promise<void> {
    try {
      const { labels } = await this.ctx.socket.labelSuggestions();
      patch(
        this.suggestions,
        labels.map((label) => h("option", { value: label })),
      );
    } catch {
      // typing a label works without suggestions
    }
  }

  private async loadEarlier(): Promise<void> {
    const { t, lang } = this.ctx;
    if (!this.opened.visitor.email) {
      patch(this.earlierList, h("p", { class: "hint" }, t("earlierNoEmail")));
      return;
    }
    try {
      const { conversations } = await this.ctx.socket.earlier(this.id);
      if (!conversations.length) {
        patch(this.earlierList, h("p", { class: "hint" }, t("earlierNone")));
        return;
      }
      patch(
        this.earlierList,
        h(
          "ul",
          { class: "earlier-list" },
          conversations.map((c) => {
            const link = h(
              "a",
              { href: this.ctx.href(c.id), "data-conversation": c.id },
              t("earlierRow", {
                date: day(c.created_at, lang),
                state: c.status === "closed" ? t("stateClosed") : t("stateOpen"),
                n: c.message_count,
              }),
            );
            link.addEventListener("click", (event) => {
              if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
              event.preventDefault();
              this.ctx.open(c.id);
            });
            return h("li", {}, link);
          }),
        ),
      );
    } catch (err) {
      patch(this.earlierList, h("p", { class: "error" }, t("error", { message: err instanceof Error ? err.message : String(err) })));
    }
  }
}
