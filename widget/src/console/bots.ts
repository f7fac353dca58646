/**
 * The bots page (admins): each site's bot, built-in (greeting, office hours, FAQ entries with a
 * "test a question" box that shows the ranking) or external (Rasa REST or webhook: URL, region,
 * redaction, shared fields, a token shown once). Saved in the database, it replaces the sites
 * file's bot for that site; "Use the sites file" goes back to it.
 */
import { request } from "./api";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";

type Localised = { en?: string; nl?: string };
type BotType = "builtin" | "rasa" | "webhook";
type FaqEntry = { question: Localised; answer: Localised };

export interface BotConfig {
  type: BotType;
  name: string;
  version?: string;
  greeting?: Localised;
  hours?: { timezone: string; weekly?: Record<string, string[]>; holidays?: string[]; offline_reply?: Localised };
  faq?: FaqEntry[];
  max_misses?: number;
  answer_threshold?: number;
  suggest_threshold?: number;
  url?: string;
  region?: string;
  redact?: boolean;
  share?: string[];
}

export interface SiteBotRow {
  site_id: string;
  source: "file" | "database" | "none";
  config: BotConfig | null;
  token_set: boolean;
  updated_at: string | null;
}

interface Ranked {
  index: number;
  question: string;
  score: number;
  confidence: number;
}

interface TestResult {
  decision: "answer" | "suggest" | "miss" | "handover";
  reply: { text: string; buttons: { title: string; payload: string }[] } | null;
  ranking: Ranked[];
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const SHARE = ["name", "email", "language", "page_url", "user_agent", "ip"];
const LANGS = ["en", "nl"] as const;

const path = (site: string, rest = ""): string => `/api/bots/${encodeURIComponent(site)}${rest}`;
const botsApi = {
  list: () => request<{ bots: SiteBotRow[] }>("GET", "/api/bots"),
  save: (site: string, config: BotConfig) => request<{ bot: SiteBotRow }>("PUT", path(site), config),
  reset: (site: string) => request<{ bot: SiteBotRow }>("DELETE", path(site)),
  test: (site: string, text: string, language: string) =>
    request<TestResult>("POST", path(site, "/test"), { text, language }),
  token: (site: string) => request<{ token: string; secret: string }>("POST", path(site, "/token")),
};

function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= uid("b");
  const hintEl = hint ? h("span", { class: "hint", id: uid("h") }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("p", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

const text = (value = "", attrs: Record<string, string> = {}): HTMLInputElement =>
  h("input", { type: "text", value, autocomplete: "off", ...attrs });
const area = (value = "", rows = "2"): HTMLTextAreaElement => h("textarea", { rows, maxlength: "2000", value });

/** Two fields (English, Dutch) for one localised text; `read` gives back what was filled in. */
function localised(t: Translate, label: string, value: Localised | undefined, rows = "2") {
  const boxes = LANGS.map((lang) => area(value?.[lang] ?? "", rows));
  const read = (): Localised | undefined => {
    const out: Localised = {};
    LANGS.forEach((lang, i) => {
      const v = boxes[i].value.trim();
      if (v) out[lang] = v;
    });
    return Object.keys(out).length ? out : undefined;
  };
  const element = h(
    "fieldset",
    { class: "field pair" },
    h("legend", {}, label),
    LANGS.map((lang, i) => field(t(lang === "en" ? "inEnglish" : "inDutch"), boxes[i])),
  );
  return { element, read };
}

function faqEntry(t: Translate, entry: FaqEntry | undefined, remove: () => void) {
  const question = localised(t, t("faqQuestion"), entry?.question, "1");
  const answer = localised(t, t("faqAnswer"), entry?.answer, "3");
  const element = h(
    "li",
    { class: "card faq" },
    question.element,
    answer.element,
    h("button", { type: "button", onclick: remove }, t("faqRemove")),
  );
  const read = (): FaqEntry | null => {
    const q = question.read();
    const a = answer.read();
    return q && a ? { question: q, answer: a } : null;
  };
  return { element, read };
}

export function botsPage(t: Translate): HTMLElement {
  const status = new Notice();
  const fail = (err: unknown): void => status.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));
  const siteSelect = h("select", { id: uid("site") });
  const editor = h("div", { class: "bot-editor" });
  let rows: SiteBotRow[] = [];

  const load = async (site?: string): Promise<void> => {
    rows = (await botsApi.list()).bots;
    const chosen = site || siteSelect.value || rows[0]?.site_id;
    patch(
      siteSelect,
      rows.map((r) => h("option", { value: r.site_id, selected: r.site_id === chosen }, r.site_id)),
    );
    if (chosen) siteSelect.value = chosen;
    const row = rows.find((r) => r.site_id === siteSelect.value);
    if (row) patch(editor, siteEditor(t, row, status, fail, (site) => load(site).catch(fail)));
    else patch(editor, h("p", {}, t("botNoSites")));
  };
  siteSelect.addEventListener("change", () => {
    status.clear();
    load(siteSelect.value).catch(fail);
  });
  load().catch(fail);
  return h(
    "section",
    { class: "page", "aria-labelledby": "bots-title" },
    h("h1", { id: "bots-title", tabindex: "-1" }, t("bots")),
    h("p", { class: "hint" }, t("botsIntro")),
    field(t("botSite"), siteSelect),
    status.element,
    editor,
  );
}

function siteEditor(
  t: Translate,
  row: SiteBotRow,
  status: Notice,
  fail: (err: unknown) => void,
  reload: (site: string) => void,
): HTMLElement {
  const site = row.site_id;
  const c: BotConfig = row.config ?? { type: "builtin", name: "" };
  const source = h(
    "p",
    { class: "hint" },
    t(row.source === "database" ? "botSourceDatabase" : row.source === "file" ? "botSourceFile" : "botSourceNone"),
  );

  // --- what every bot has ------------------------------------------------------------------------
  const type = h(
    "select",
    {},
    (["builtin", "rasa", "webhook"] as const).map((v) =>
      h("option", { value: v, selected: c.type === v }, t(v === "builtin" ? "botBuiltin" : v === "rasa" ? "botRasa" : "botWebhook")),
    ),
  );
  const name = text(c.name, { required: "", maxlength: "80" });
  const greeting = localised(t, t("botGreeting"), c.greeting);

  // --- the built-in bot --------------------------------------------------------------------------
  const number = (value: number | undefined, min: string, max: string, step: string): HTMLInputElement =>
    h("input", { type: "number", min, max, step, value: value === undefined ? "" : String(value) });
  const misses = number(c.max_misses, "1", "10", "1");
  const answerAt = number(c.answer_threshold, "0", "1", "0.05");
  const suggestAt = number(c.suggest_threshold, "0", "1", "0.05");
  const timezone = text(c.hours?.timezone ?? "", { maxlength: "64", placeholder: "Europe/Amsterdam" });
  const days = DAYS.map((day) => text((c.hours?.weekly?.[day] ?? []).join(", "), { maxlength: "100", placeholder: "09:00-17:00" }));
  const holidays = area((c.hours?.holidays ?? []).join("\n"), "3");
  const offlineReply = localised(t, t("botOfflineReply"), c.hours?.offline_reply);
  const faqList = h("ol", { class: "faq-list" });
  const entries: ReturnType<typeof faqEntry>[] = [];
  const addEntry = (entry?: FaqEntry): void => {
    const item = faqEntry(t, entry, () => {
      entries.splice(entries.indexOf(item), 1);
      item.element.remove();
    });
    entries.push(item);
    faqList.append(item.element);
  };
  (c.faq ?? []).forEach((entry) => addEntry(entry));
  const builtin = h(
    "div",
    {},
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, t("botHours")),
      field(t("botTimezone"), timezone, t("botTimezoneHint")),
      h(
        "div",
        { class: "days" },
        DAYS.map((day, i) => field(t(`day_${day}` as "day_mon"), days[i])),
      ),
      h("p", { class: "hint" }, t("botDaysHint")),
      field(t("botHolidays"), holidays, t("botHolidaysHint")),
      offlineReply.element,
    ),
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, t("faq")),
      faqList,
      h("button", { type: "button", onclick: () => addEntry() }, t("faqAdd")),
    ),
    field(t("botMaxMisses"), misses),
    field(t("botAnswerAt"), answerAt),
    field(t("botSuggestAt"), suggestAt),
  );

  // --- external bots -----------------------------------------------------------------------------
  const url = h("input", { type: "url", maxlength: "2000", placeholder: "https://", value: c.url ?? "" });
  const region = text(c.region ?? "", { maxlength: "64", placeholder: "eu-central-1" });
  const redact = h("input", { type: "checkbox", id: uid("redact"), checked: c.redact !== false });
  const shares = SHARE.map((f) => h("input", { type: "checkbox", id: uid("share"), value: f, checked: (c.share ?? []).includes(f) }));
  const external = h(
    "div",
    {},
    field(t("botUrl"), url),
    field(t("webhookRegion"), region),
    h("p", { class: "field" }, h("label", { for: redact.id, class: "check" }, redact, " ", t("botRedact"))),
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, t("botShare")),
      shares.map((box) => h("label", { for: box.id, class: "check" }, box, " ", h("code", {}, box.value))),
      h("p", { class: "hint" }, t("botShareHint")),
    ),
  );
  const showKind = (): void => {
    builtin.hidden = type.value !== "builtin";
    external.hidden = type.value === "builtin";
  };
  type.addEventListener("change", showKind);
  showKind();

  const read = (): BotConfig => {
    const config: BotConfig = { type: type.value as BotType, name: name.value.trim(), version: c.version ?? "1" };
    const hello = greeting.read();
    if (hello) config.greeting = hello;
    if (config.type === "builtin") {
      const num = (input: HTMLInputElement): number | undefined => (input.value === "" ? undefined : Number(input.value));
      const [m, a, s] = [num(misses), num(answerAt), num(suggestAt)];
      if (m !== undefined) config.max_misses = m;
      if (a !== undefined) config.answer_threshold = a;
      if (s !== undefined) config.suggest_threshold = s;
      if (timezone.value.trim()) {
        const weekly: Record<string, string[]> = {};
        DAYS.forEach((day, i) => {
          const spans = days[i].value.split(/[,\s]+/).filter(Boolean);
          if (spans.length) weekly[day] = spans;
        });
        config.hours = {
          timezone: timezone.value.trim(),
          weekly,
          holidays: holidays.value.split(/[,\s]+/).filter(Boolean),
        };
        const offline = offlineReply.read();
        if (offline) config.hours.offline_reply = offline;
      }
      config.faq = entries.map((e) => e.read()).filter((e): e is FaqEntry => e !== null);
    } else {
      config.url = url.value.trim();
      config.region = region.value.trim();
      config.redact = redact.checked;
      config.share = shares.filter((b) => b.checked).map((b) => b.value);
    }
    return config;
  };

  const form = h(
    "form",
    { class: "card wide", "aria-labelledby": "bot-form-title" },
    h("h2", { id: "bot-form-title" }, t("botOf", { site })),
    source,
    field(t("botType"), type),
    field(t("botName"), name),
    greeting.element,
    builtin,
    external,
    h(
      "p",
      { class: "toolbar" },
      h("button", { type: "submit", class: "primary" }, t("save")),
      row.source === "database"
        ? h(
            "button",
            {
              type: "button",
              onclick: () =>
                botsApi.reset(site).then(() => {
                  reload(site);
                  status.success(t("botReset"));
                }, fail),
            },
            t("botUseFile"),
          )
        : null,
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    botsApi.save(site, read()).then(() => {
      reload(site);
      status.success(t("saved"));
    }, fail);
  });

  return h(
    "div",
    {},
    form,
    c.type === "builtin" && row.config ? testBox(t, site, fail) : null,
    c.type === "webhook" && row.config ? tokenBox(t, site, row.token_set, fail) : null,
  );
}

/** "Test a question": what the saved built-in bot would do, with its FAQ ranking. Nothing is stored. */
function testBox(t: Translate, site: string, fail: (err: unknown) => void): HTMLElement {
  const question = text("", { required: "", maxlength: "2000" });
  const language = h(
    "select",
    {},
    h("option", { value: "en" }, "English"),
    h("option", { value: "nl" }, "Nederlands"),
  );
  const result = h("div", { role: "status" });
  const form = h(
    "form",
    { class: "card wide", "aria-labelledby": "bot-test-title" },
    h("h2", { id: "bot-test-title" }, t("botTest")),
    h("p", { class: "hint" }, t("botTestHint")),
    field(t("botTestQuestion"), question),
    field(t("botTestLanguage"), language),
    h("button", { type: "submit", class: "primary" }, t("botTestRun")),
    result,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    botsApi.test(site, question.value.trim(), language.value).then((r) => {
      const decision = t(
        r.decision === "answer"
          ? "botWouldAnswer"
          : r.decision === "suggest"
            ? "botWouldSuggest"
            : r.decision === "handover"
              ? "botWouldHandOver"
              : "botWouldMiss",
      );
      patch(
        result,
        h("p", { class: "decision" }, decision),
        r.reply ? h("blockquote", { class: "pre" }, r.reply.text) : null,
        r.reply?.buttons.length
          ? h("ul", { class: "buttons", "aria-label": t("quickReplies") }, r.reply.buttons.map((b) => h("li", {}, b.title)))
          : null,
        r.ranking.length
          ? h(
              "table",
              {},
              h("caption", {}, t("botRanking")),
              h(
                "thead",
                {},
                h("tr", {}, ["#", t("faqQuestion"), t("botScore"), t("botConfidence")].map((c) => h("th", { scope: "col" }, c))),
              ),
              h(
                "tbody",
                {},
                r.ranking.map((m, i) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, String(i + 1)),
                    h("td", {}, m.question),
                    h("td", {}, m.score.toFixed(2)),
                    h("td", {}, `${Math.round(m.confidence * 100)} %`),
                  ),
                ),
              ),
            )
          : null,
      );
    }, fail);
  });
  return form;
}

/** A webhook bot's token (for its replies) and signing secret (for its events), shown once. */
function tokenBox(t: Translate, site: string, tokenSet: boolean, fail: (err: unknown) => void): HTMLElement {
  const shown = h("div", { role: "status" });
  return h(
    "section",
    { class: "card wide", "aria-labelledby": "bot-token-title" },
    h("h2", { id: "bot-token-title" }, t("botToken")),
    h("p", { class: "hint" }, t(tokenSet ? "botTokenSet" : "botTokenNone")),
    h(
      "button",
      {
        type: "button",
        onclick: () =>
          botsApi.token(site).then(({ token, secret }) => {
            patch(
              shown,
              h("p", {}, t("botTokenOnce")),
              h("p", {}, t("botTokenLabel"), " ", h("code", { class: "secret" }, token)),
              h("p", {}, t("botSecretLabel"), " ", h("code", { class: "secret" }, secret)),
            );
          }, fail),
      },
      t("botTokenNew"),
    ),
    shown,
  );
}
