/** Relative and absolute times for the inbox and the thread. */
import type { Translate } from "./strings";

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
  return new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

export function clock(iso: string, lang: string): string {
  return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
}
