/** The inbox list: one line of tabs (never wrapping) for the views, one row per conversation. */
import type { Row, View } from "./agent";
import { author, visitorLabel, type Naming } from "./authors";
import { h, patch } from "./dom";
import type { Strings, Translate } from "./strings";
import { relative } from "./time";

/** The views, in tab order. Another module may add one (e.g. `bot`) by pushing here. */
export const VIEWS: [View, keyof Strings][] = [
  ["waiting", "waiting"],
  ["mine", "mine"],
  ["open", "allOpen"],
  ["closed", "closed"],
  ["bot", "botView"],
];

/** Per view: how many conversations, and how many of them have unread messages. */
export type Counts = Partial<Record<View, { total: number; unread: number }>>;

/** Tab counts and the title badge from the list of all open conversations. */
export function countOpen(rows: Row[], me: string): Counts & { unread: number } {
  const tally = (list: Row[]) => ({ total: list.length, unread: list.filter((r) => r.unread > 0).length });
  const mine = rows.filter((r) => r.assigned_agent_id === me);
  const waiting = rows.filter((r) => !r.assigned_agent_id);
  const unread = [...waiting, ...mine].filter((r) => r.unread > 0).length;
  return { waiting: tally(waiting), mine: tally(mine), open: tally(rows), unread };
}

export function renderTabs(
  tablist: HTMLElement,
  t: Translate,
  current: View,
  counts: Counts | undefined,
  choose: (view: View, focus: boolean) => void,
): void {
  const tabs = VIEWS.map(([view, key]) => {
    const count = counts?.[view];
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
      count !== undefined
        ? h(
            "span",
            { class: "count" },
            ` ${count.total}`,
            h("span", { class: "sr" }, ` (${t("conversationsInView", { n: count.total })})`),
          )
        : null,
      count?.unread
        ? h(
            "span",
            { class: "badge" },
            h("span", { "aria-hidden": "true" }, String(count.unread)),
            h("span", { class: "sr" }, t("unreadInView", { n: count.unread })),
          )
        : null,
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
  tablist.querySelector<HTMLElement>('[aria-selected="true"]')?.scrollIntoView?.({ block: "nearest", inline: "nearest" });
}

export function rowLabel(t: Translate, row: Row): string {
  return visitorLabel(t, row.label, row.visitor_ref);
}

export function renderRows(
  list: HTMLElement,
  naming: Naming,
  rows: Row[],
  selected: string | undefined,
  href: (id: string) => string,
  open: (id: string) => void,
): void {
  const { t, me } = naming;
  if (!rows.length) {
    patch(list, h("li", { class: "empty" }, t("empty")));
    return;
  }
  patch(
    list,
    rows.map((row) => {
      const preview = row.preview
        ? `${author(naming, row.preview.sender, row.preview.agent_id)}: ${row.preview.text}`
        : "";
      const assigned = row.assigned_agent_id
        ? t("assignedTo", { name: row.assigned_agent_id === me ? t("you") : naming.agentName(row.assigned_agent_id) })
        : "";
      const link = h(
        "a",
        {
          href: href(row.id),
          class: "row",
          "data-key": row.id,
          "data-conversation": row.id,
          "aria-current": row.id === selected ? "true" : null,
        },
        h(
          "span",
          { class: "line" },
          h("span", { class: "label" }, rowLabel(t, row)),
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
        assigned || row.offline || row.labels?.length
          ? h(
              "span",
              { class: "meta" },
              [assigned, row.offline ? t("offlineTag") : ""].filter(Boolean).join(" · "),
              (row.labels ?? []).map((label) => h("span", { class: "chip" }, label)),
            )
          : null,
      );
      link.addEventListener("click", (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // a new tab
        event.preventDefault();
        open(row.id);
      });
      return h("li", {}, link);
    }),
  );
}
