/** Who wrote something, named the same way everywhere (inbox previews, the thread, notes). */
import type { Translate } from "./strings";

export interface Naming {
  t: Translate;
  me: string;
  agentName(id: string): string;
}

/** "You" for my own words, the colleague's name for theirs, "Visitor" for the visitor's. */
export function author(
  naming: Naming,
  sender: string,
  agentId: string | null | undefined,
  botName?: string | null,
): string {
  if (sender === "visitor") return naming.t("visitor");
  if (sender === "bot") return botName ? naming.t("botSender", { name: botName }) : naming.t("botView");
  if (agentId && agentId === naming.me) return naming.t("youSender");
  return agentId ? naming.agentName(agentId) : naming.t("agent");
}

/** The visitor's name, or "Visitor <ref>" in the console's language when they gave none. */
export function visitorLabel(t: Translate, label: string | null | undefined, ref: string | undefined): string {
  if (!ref) return label || t("visitor");
  if (!label || label === `Visitor ${ref}`) return t("visitorN", { id: ref });
  return label;
}
