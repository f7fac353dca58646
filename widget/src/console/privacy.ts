/** The privacy page (admins): find a person, export or erase their conversations, breach reports. */
import { api, type JsonFile, type SubjectConversation } from "./api";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { absolute } from "./time";

const CONVERSATION_ID = /^c[0-9a-f]{24}$/;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Hand a file to the browser's download; the object URL lives only as long as the click. */
function download(file: JsonFile): void {
  const url = URL.createObjectURL(file.blob);
  const link = h("a", { href: url, download: file.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

function field(label: string, control: HTMLInputElement): HTMLElement {
  control.id ||= uid("f");
  return h("p", { class: "field" }, h("label", { for: control.id }, label), control);
}

function stateOf(t: Translate, conv: SubjectConversation): string {
  const parts = [conv.status === "closed" ? t("closed") : t("openState")];
  if (conv.offline) parts.push(t("offline"));
  if (conv.pseudonymised) parts.push(t("pseudonymised"));
  return parts.join(", ");
}

export function privacyPage(t: Translate, lang: string): HTMLElement {
  const status = new Notice();
  const fail = (err: unknown): void => {
    status.failure(t("error", { message: message(err) }));
  };
  let found: SubjectConversation[] = [];
  let lastQuery: { email: string } | { conversation_id: string } | undefined;

  // --- search and results -----------------------------------------------------------------------
  const who = h("input", { type: "text", required: true, autocomplete: "off", spellcheck: "false", maxlength: "320" });
  const search = h(
    "form",
    { class: "card inline", role: "search", "aria-labelledby": "privacy-find" },
    h("h2", { id: "privacy-find" }, t("findSubject")),
    field(t("emailOrConversation"), who),
    h("button", { type: "submit", class: "primary" }, t("search")),
  );
  const results = h("tbody");
  const exportButton = h("button", { type: "button" }, t("exportJson"));
  const eraseButton = h("button", { type: "button", class: "danger" }, t("eraseEllipsis"));
  const resultsBox = h(
    "div",
    { hidden: true },
    h(
      "table",
      {},
      h("caption", { class: "sr" }, t("results")),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [t("conversation"), t("startedAt"), t("lastActivity"), t("messagesCount"), t("status")].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      results,
    ),
    h("p", { class: "toolbar" }, exportButton, " ", eraseButton),
  );

  const showResults = (conversations: SubjectConversation[]): void => {
    found = conversations;
    resultsBox.hidden = conversations.length === 0;
    patch(
      results,
      conversations.map((c) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, c.id)),
          h("td", {}, h("time", { datetime: c.created_at }, absolute(c.created_at, lang))),
          h("td", {}, h("time", { datetime: c.last_activity_at }, absolute(c.last_activity_at, lang))),
          h("td", {}, String(c.message_count)),
          h("td", {}, stateOf(t, c)),
        ),
      ),
    );
  };

  const find = async (): Promise<void> => {
    if (!lastQuery) return;
    const { conversations } = await api.findSubject(lastQuery);
    showResults(conversations);
  };

  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = who.value.trim();
    lastQuery = CONVERSATION_ID.test(value) ? { conversation_id: value } : { email: value };
    status.clear();
    find().then(() => {
      status.success(found.length ? t("foundN", { n: found.length }) : t("foundNone"));
    }, fail);
  });

  exportButton.addEventListener("click", () => {
    api.exportSubject(found.map((c) => c.id)).then((file) => {
      download(file);
      status.success(t("exported", { n: found.length }));
    }, fail);
  });

  // --- erasure, after a confirmation that shows what goes ---------------------------------------
  const confirmList = h("ul");
  const confirmErase = h("button", { type: "button", class: "danger" }, t("eraseForever"));
  const cancel = h("button", { type: "button" }, t("cancel"));
  const what = h("p", { id: "erase-what" });
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "erase-title", "aria-describedby": "erase-what" },
    h("h2", { id: "erase-title" }, t("eraseTitle")),
    what,
    confirmList,
    h("p", {}, t("eraseWarning")),
    h("p", { class: "toolbar" }, confirmErase, " ", cancel),
  );
  cancel.addEventListener("click", () => dialog.close());
  eraseButton.addEventListener("click", () => {
    const messages = found.reduce((sum, c) => sum + c.message_count, 0);
    what.textContent = t("eraseSummary", { n: found.length, m: messages });
    patch(
      confirmList,
      found.map((c) => h("li", {}, h("code", {}, c.id), ` – ${absolute(c.created_at, lang)}, ${t("messagesN", { n: c.message_count })}`)),
    );
    dialog.addEventListener("close", () => eraseButton.focus(), { once: true });
    dialog.showModal();
    cancel.focus();
  });
  confirmErase.addEventListener("click", () => {
    const ids = found.map((c) => c.id);
    dialog.close();
    api
      .eraseSubject(ids)
      .then(async ({ erased }) => {
        await find();
        status.success(t("erased", { n: erased }));
      })
      .catch(fail);
  });

  // --- breach report ----------------------------------------------------------------------------
  const from = h("input", { type: "datetime-local", required: true });
  const to = h("input", { type: "datetime-local", required: true });
  const breach = h(
    "form",
    { class: "card inline", "aria-labelledby": "breach-title" },
    h("h2", { id: "breach-title" }, t("breachReport")),
    h("p", { class: "hint" }, t("breachHint")),
    field(t("windowFrom"), from),
    field(t("windowTo"), to),
    h("button", { type: "submit", class: "primary" }, t("downloadReport")),
  );
  breach.addEventListener("submit", (event) => {
    event.preventDefault();
    // datetime-local is the admin's local time; the server wants an instant with its zone.
    const start = new Date(from.value);
    const end = new Date(to.value);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) {
      status.failure(t("windowInvalid"));
      return;
    }
    api.breachReport(start.toISOString(), end.toISOString()).then((file) => {
      download(file);
      status.success(t("reportReady"));
    }, fail);
  });

  return h(
    "section",
    { class: "page", "aria-labelledby": "privacy-title" },
    h("h1", { id: "privacy-title", tabindex: "-1" }, t("privacy")),
    h("p", { class: "hint" }, t("privacyIntro")),
    search,
    status.element,
    resultsBox,
    dialog,
    breach,
  );
}
