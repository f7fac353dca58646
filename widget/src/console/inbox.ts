/** The inbox list: tabs for the four views and one row per conversation. */
import type { Row, View } from "./agent";
import { h, patch } from "./dom";
import type { Strings, Translate } from "./strings";
import { relative } from "./time";

export const VIEWS: [View, keyof Strings][] = [
  ["bot", "botView"],
  ["waiting", "waiting"],
  ["mine", "mine"],
  ["open", "allOpen"],
  ["closed", "closed"],
];

export interface Counts {
  waiting: number;
  mine: number;
  open: number;
}

/** Tab counts and the title badge from the list of all open conversations. */
export function countOpen(rows: Row[], me: string): Counts & { unread: number } {
  const mine = rows.filter((r) => r.assigned_agent_id === me);
  const waiting = rows.filter((r) => !r.assigned_agent_id);
  const unread = [...waiting, ...mine].filter((r) => r.unread > 0).length;
  return { waiting: waiting.length, mine: mine.length, open: rows.length, unread };
}

export function renderTabs(
  tablist: HTMLElement,
  t: Translate,
  current: View,
  counts: Counts | undefined,
  choose: (view: View, focus: boolean) => void,
): void {
  const tabs = VIEWS.map(([view, key]) => {
    const count = counts && view !== "closed" && view !== "bot" ? counts[view] : undefined;
    const tab = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${view}`,
        "data-key": `tab-${view}`,
        "aria-selected": view === current ? "true" : "false",
        "aria-controls": "inbox-list",
        tabindex: view === current ? "0" : "-1",
      },
      t(key),
      count !== undefined ? h("span", { class: "count" }, ` ${count}`) : null,
    );
    tab.addEventListener("click", () => choose(view, false));
    tab.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      event.preventDefault();
      const index = VIEWS.findIndex(([v]) => v === view);
      choose(VIEWS[(index + step + VIEWS.length) % VIEWS.length][0], true);
    });
    return tab;
  });
  patch(tablist, tabs);
}

export function renderRows(
  list: HTMLElement,
  t: Translate,
  rows: Row[],
  selected: string | undefined,
  me: string,
  agentName: (id: string) => string,
  open: (id: string) => void,
): void {
  if (!rows.length) {
    patch(list, h("li", { class: "empty" }, t("empty")));
    return;
  }
  patch(
    list,
    rows.map((row) => {
      const preview = row.preview
        ? `${t(row.preview.sender === "visitor" ? "visitor" : row.preview.sender === "bot" ? "botView" : "agent")}: ${row.preview.text}`
        : "";
      const assigned = row.assigned_agent_id
        ? t("assignedTo", { name: row.assigned_agent_id === me ? t("you") : agentName(row.assigned_agent_id) })
        : "";
      const button = h(
        "button",
        {
          type: "button",
          class: "row",
          "data-key": row.id,
          "data-conversation": row.id,
          "aria-current": row.id === selected ? "true" : null,
        },
        h(
          "span",
          { class: "line" },
          h("span", { class: "label" }, row.label),
          row.unread > 0
            ? h(
                "span",
                { class: "badge" },
                h("span", { "aria-hidden": "true" }, String(row.unread)),
                h("span", { class: "sr" }, t("unread", { n: row.unread })),
              )
            : null,
          h("time", { datetime: row.last_activity_at }, relative(row.last_activity_at, t)),
        ),
        h("span", { class: "preview" }, preview),
        assigned || row.offline
          ? h("span", { class: "meta" }, [assigned, row.offline ? t("offlineTag") : ""].filter(Boolean).join(" · "))
          : null,
      );
      button.addEventListener("click", () => open(row.id));
      return h("li", {}, button);
    }),
  );
}
