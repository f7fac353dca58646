/** The search page: filters (e-mail, id, status, label, site, agent, dates) and text matched in
 * the server's memory; the server keeps the results to the sites of the agent's teams. */
import { request } from "./api";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { absolute } from "./time";

export interface SearchRow {
  id: string;
  status: string;
  label: string;
  site_id: string | null;
  assigned_agent_id: string | null;
  last_activity_at: string;
  message_count: number;
  match?: string;
}

interface SearchAnswer {
  conversations: SearchRow[];
  truncated: boolean;
  limits: { candidates: number; messages: number };
}

const MAX_CANDIDATES = 200;

/** A date input's day as an instant: the start of that day (or of the next) in the browser's time zone. */
function startOf(day: string, later = 0): string {
  const at = new Date(`${day}T00:00:00`);
  at.setDate(at.getDate() + later);
  return at.toISOString();
}

export function searchPage(
  t: Translate,
  lang: string,
  agents: () => { id: string; name: string }[],
  open: (id: string) => void,
): HTMLElement {
  const notice = new Notice();
  const control = (label: string, el: HTMLInputElement | HTMLSelectElement): HTMLElement => {
    el.id ||= uid("s");
    return h("p", { class: "field" }, h("label", { for: el.id }, label), el);
  };
  const text = h("input", { type: "search", maxlength: "200", autocomplete: "off" });
  const email = h("input", { type: "email", maxlength: "320", autocomplete: "off" });
  const conversation = h("input", { type: "text", maxlength: "25", pattern: "\\s*c[0-9a-f]{24}\\s*", spellcheck: "false" });
  const status = h(
    "select",
    {},
    h("option", { value: "" }, t("anyOption")),
    h("option", { value: "bot" }, t("statusBot")),
    h("option", { value: "waiting" }, t("waiting")),
    h("option", { value: "open" }, t("openState")),
    h("option", { value: "closed" }, t("closed")),
  );
  const label = h("input", { type: "text", maxlength: "50" });
  const site = h("input", { type: "text", maxlength: "64", pattern: "[A-Za-z0-9_-]{1,64}" });
  const agent = h(
    "select",
    {},
    h("option", { value: "" }, t("anyOption")),
    agents().map((a) => h("option", { value: a.id }, a.name)),
  );
  const from = h("input", { type: "date" });
  const to = h("input", { type: "date" });
  const results = h("div", { class: "wide" });
  const form = h(
    "form",
    { class: "card filters", role: "search", "aria-labelledby": "search-title" },
    control(t("searchText"), text),
    control(t("searchEmail"), email),
    control(t("searchConversation"), conversation),
    control(t("searchStatus"), status),
    control(t("searchLabel"), label),
    control(t("searchSite"), site),
    control(t("searchAgent"), agent),
    control(t("searchFrom"), from),
    control(t("searchTo"), to),
    h("p", { class: "field" }, h("button", { type: "submit", class: "primary" }, t("search"))),
  );
  const agentName = (id: string | null): string =>
    id ? (agents().find((a) => a.id === id)?.name ?? id) : t("unassigned");

  const show = (answer: SearchAnswer): void => {
    const rows = answer.conversations;
    notice.success(t("searchFound", { n: rows.length }) + (answer.truncated ? ` ${t("searchTruncated")}` : ""));
    if (!rows.length) return patch(results);
    patch(
      results,
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [t("conversation"), t("searchStatus"), t("searchSite"), t("searchAgent"), t("lastActivity"), t("messagesCount")].map(
              (c) => h("th", { scope: "col" }, c),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          rows.map((row) => {
            const button = h("button", { type: "button", "aria-label": t("searchOpen", { name: row.label }) }, row.label);
            button.addEventListener("click", () => open(row.id));
            return h(
              "tr",
              { "data-conversation": row.id },
              h("td", {}, button, row.match ? h("p", { class: "match" }, row.match) : null),
              h("td", {}, row.status === "closed" ? t("closed") : row.status === "bot" ? t("statusBot") : t("openState")),
              h("td", {}, row.site_id ?? t("noSite")),
              h("td", {}, agentName(row.assigned_agent_id)),
              h("td", {}, absolute(row.last_activity_at, lang)),
              h("td", {}, String(row.message_count)),
            );
          }),
        ),
      ),
    );
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = {};
    if (text.value.trim()) body.text = text.value.trim();
    if (email.value.trim()) body.email = email.value.trim();
    if (conversation.value.trim()) body.conversation_id = conversation.value.trim();
    if (status.value) body.status = status.value;
    if (label.value.trim()) body.labels = [label.value.trim()];
    if (site.value.trim()) body.site_ids = [site.value.trim()];
    if (agent.value) body.agent_id = agent.value;
    if (from.value) body.from = startOf(from.value);
    if (to.value) body.to = startOf(to.value, 1);
    try {
      show(await request<SearchAnswer>("POST", "/api/search", body));
    } catch (err) {
      notice.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));
    }
  });
  return h(
    "section",
    { class: "page", "aria-labelledby": "search-title" },
    h("h1", { id: "search-title", tabindex: "-1" }, t("searchTitle")),
    h("p", { class: "hint" }, t("searchHint", { n: MAX_CANDIDATES })),
    form,
    notice.element,
    results,
  );
}
