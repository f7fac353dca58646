/** Relative and absolute times for the inbox and the thread, in the browser's locale via Intl. */
import type { Translate } from "./strings";

/**
 * The locale for dates and times: the browser's own preference for the console's language (so
 * en-GB gets day/month and 24 hours, en-US month/day), else the language itself. Dutch is always
 * 24-hour.
 */
export function locale(lang: string): string {
  const preferred = (navigator.languages ?? [navigator.language]).find(
    (tag) => tag.toLowerCase() === lang || tag.toLowerCase().startsWith(lang + "-"),
  );
  return preferred ?? lang;
}

function hourCycle(lang: string): { hourCycle?: "h23" } {
  return lang === "nl" ? { hourCycle: "h23" } : {};
}

export function relative(iso: string, t: Translate, now = Date.now()): string {
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (seconds < 60) return t("justNow");
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t("ago", { t: t("minutes", { n: minutes }) });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return t("ago", { t: t("hours", { n: hours }) });
  return t("ago", { t: t("days", { n: Math.floor(hours / 24) }) });
}

export function absolute(iso: string | null, lang: string): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium", timeStyle: "short", ...hourCycle(lang) }).format(
    new Date(iso),
  );
}

export function day(iso: string | null, lang: string): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium" }).format(new Date(iso));
}

export function clock(iso: string, lang: string): string {
  return new Intl.DateTimeFormat(locale(lang), { hour: "2-digit", minute: "2-digit", ...hourCycle(lang) }).format(
    new Date(iso),
  );
}
