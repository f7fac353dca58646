/** The reports page: volumes, response and resolution times, hand-over and CSAT, with SVG charts
 * drawn here (no chart library, no third-party service) and a CSV download of the same report. */
import { request } from "./api";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";

interface Times {
  count: number;
  median_s: number | null;
  p90_s: number | null;
}

interface Group {
  conversations: number;
  first_response: Times;
  resolution: Times;
  bot: { conversations: number; handed_over: number; rate: number | null };
  csat: { count: number; average: number | null; distribution: number[] };
}

export interface Report {
  range: { from: string; to: string };
  totals: Group;
  per_day: { day: string; conversations: number }[];
  hour_of_week: number[][];
  by_site: (Group & { site_id: string | null })[];
  by_team: (Group & { team_id: string; name: string })[];
  by_agent: (Group & { agent_id: string; name: string })[];
}

const SVG = "http://www.w3.org/2000/svg";
const DAY_MS = 86_400_000;

function svg(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  el.append(...children);
  return el;
}

function isoDay(date: Date): string {
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

/** A query for the report: the viewer's own days and hours (whole-hour UTC offset). */
function query(from: string, to: string, site: string): string {
  const params = new URLSearchParams({ from, to, tz_offset: String(-new Date().getTimezoneOffset()) });
  if (site) params.set("site", site);
  return params.toString();
}

/** A duration in the largest unit that keeps it readable. */
export function duration(seconds: number | null, t: Translate, lang: string): string {
  if (seconds === null) return "–";
  const number = (n: number): string => n.toLocaleString(lang, { maximumFractionDigits: n < 10 ? 1 : 0 });
  if (seconds < 90) return t("seconds", { n: number(seconds) });
  if (seconds < 5400) return t("minutes", { n: number(seconds / 60) });
  if (seconds < 172_800) return t("hoursLong", { n: number(seconds / 3600) });
  return t("days", { n: number(seconds / 86_400) });
}

function barChart(title: string, bars: { label: string; value: number }[]): HTMLElement {
  const width = 640;
  const height = 160;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const step = width / Math.max(1, bars.length);
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height + 20}`, role: "img", "aria-label": title, class: "chart" },
    ...bars.map((bar, i) => {
      const barHeight = (bar.value / max) * height;
      return svg(
        "rect",
        { x: i * step + 1, y: height - barHeight, width: Math.max(1, step - 2), height: barHeight, class: "bar" },
        svg("title", {}, `${bar.label}: ${bar.value}`),
      );
    }),
    svg("text", { x: 0, y: height + 16, class: "axis" }, bars[0]?.label ?? ""),
    svg("text", { x: width, y: height + 16, "text-anchor": "end", class: "axis" }, bars[bars.length - 1]?.label ?? ""),
  );
  return h("figure", { class: "card" }, h("figcaption", {}, title), chart);
}

function heatMap(title: string, grid: number[][], lang: string): HTMLElement {
  const cell = 22;
  const left = 40;
  const max = Math.max(1, ...grid.flat());
  // 2024-01-01 was a Monday: the server's rows are Monday first.
  const weekday = (d: number): string =>
    new Date(Date.UTC(2024, 0, 1 + d)).toLocaleDateString(lang, { weekday: "short", timeZone: "UTC" });
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${left + 24 * cell} ${7 * cell + 16}`, role: "img", "aria-label": title, class: "chart" },
    ...grid.flatMap((hours, d) => [
      svg("text", { x: 0, y: d * cell + 15, class: "axis" }, weekday(d)),
      ...hours.map((n, hour) =>
        svg(
          "rect",
          { x: left + hour * cell, y: d * cell, width: cell - 2, height: cell - 2, class: "heat", "fill-opacity": 0.08 + 0.92 * (n / max) },
          svg("title", {}, `${weekday(d)} ${String(hour).padStart(2, "0")}:00 – ${n}`),
        ),
      ),
    ]),
    ...[0, 6, 12, 18].map((hour) => svg("text", { x: left + hour * cell, y: 7 * cell + 14, class: "axis" }, String(hour).padStart(2, "0"))),
  );
  return h("figure", { class: "card" }, h("figcaption", {}, title), chart);
}

function groupTable(t: Translate, lang: string, title: string, rows: { name: string; group: Group }[]): HTMLElement {
  const id = uid("report");
  const timeCells = (times: Times): HTMLElement[] => [
    h("td", {}, String(times.count)),
    h("td", {}, duration(times.median_s, t, lang)),
    h("td", {}, duration(times.p90_s, t, lang)),
  ];
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            t("reportsName"),
            t("conversations"),
            `${t("reportsFirstResponse")} (n)`,
            `${t("reportsFirstResponse")} ${t("reportsMedian")}`,
            `${t("reportsFirstResponse")} ${t("reportsP90")}`,
            `${t("reportsResolution")} (n)`,
            `${t("reportsResolution")} ${t("reportsMedian")}`,
            `${t("reportsResolution")} ${t("reportsP90")}`,
            "CSAT",
          ].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map(({ name, group }) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, name),
            h("td", {}, String(group.conversations)),
            ...timeCells(group.first_response),
            ...timeCells(group.resolution),
            h("td", {}, group.csat.average === null ? "–" : group.csat.average.toLocaleString(lang)),
          ),
        ),
      ),
    ),
  );
}

function csatSection(t: Translate, lang: string, report: Report): HTMLElement {
  const { csat, bot } = report.totals;
  const bars = csat.distribution.map((value, i) => ({ label: t("reportsStars", { n: i + 1 }), value }));
  const rate = bot.rate === null ? "" : bot.rate.toLocaleString(lang, { style: "percent", maximumFractionDigits: 1 });
  return h(
    "div",
    {},
    h(
      "p",
      { class: "summary" },
      csat.average === null
        ? t("reportsNoRatings")
        : t("reportsCsatAverage", { avg: csat.average.toLocaleString(lang), n: csat.count }),
      " ",
      bot.conversations ? t("reportsHandover", { rate, n: bot.conversations }) : t("reportsNoBot"),
    ),
    barChart(t("reportsCsat"), bars),
  );
}

export function renderReport(t: Translate, lang: string, report: Report): HTMLElement[] {
  const days = report.per_day.map((d) => ({
    label: new Date(d.day + "T12:00:00Z").toLocaleDateString(lang, { day: "numeric", month: "short", timeZone: "UTC" }),
    value: d.conversations,
  }));
  return [
    h("p", { class: "summary" }, t("reportsTotal", { n: report.totals.conversations })),
    barChart(t("reportsPerDay"), days),
    heatMap(t("reportsHourOfWeek"), report.hour_of_week, lang),
    groupTable(t, lang, t("reportsTimes"), [{ name: t("conversations"), group: report.totals }]),
    csatSection(t, lang, report),
    groupTable(t, lang, t("reportsBySite"), report.by_site.map((g) => ({ name: g.site_id ?? t("noSite"), group: g }))),
    groupTable(t, lang, t("reportsByTeam"), report.by_team.map((g) => ({ name: g.name, group: g }))),
    groupTable(t, lang, t("reportsByAgent"), report.by_agent.map((g) => ({ name: g.name, group: g }))),
  ];
}

export function reportsPage(t: Translate, lang: string): HTMLElement {
  const notice = new Notice();
  const today = new Date();
  const from = h("input", { type: "date", id: uid("from"), required: true, value: isoDay(new Date(today.getTime() - 29 * DAY_MS)) });
  const to = h("input", { type: "date", id: uid("to"), required: true, value: isoDay(today) });
  const site = h("input", { type: "text", id: uid("site"), maxlength: "64", pattern: "[A-Za-z0-9_-]{1,64}" });
  const csv = h("a", { class: "button", href: "#", download: "" }, t("reportsCsv"));
  const output = h("div", { class: "report" });
  const field = (label: string, control: HTMLInputElement): HTMLElement =>
    h("p", { class: "field" }, h("label", { for: control.id }, label), control);
  const form = h(
    "form",
    { class: "card inline" },
    field(t("windowFrom"), from),
    field(t("windowTo"), to),
    field(t("searchSite"), site),
    h("button", { type: "submit", class: "primary" }, t("reportsShow")),
    csv,
  );
  const load = async (): Promise<void> => {
    if (!from.value || !to.value || to.value < from.value) {
      notice.failure(t("reportsRange"));
      return;
    }
    const q = query(from.value, to.value, site.value.trim());
    csv.href = `/api/reports.csv?${q}`;
    try {
      const report = await request<Report>("GET", `/api/reports?${q}`);
      notice.clear();
      patch(output, renderReport(t, lang, report));
    } catch (err) {
      notice.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });
  void load();
  return h(
    "section",
    { class: "page", "aria-labelledby": "reports-title" },
    h("h1", { id: "reports-title", tabindex: "-1" }, t("reports")),
    h("p", {}, t("reportsIntro")),
    form,
    notice.element,
    output,
  );
}
