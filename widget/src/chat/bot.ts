/**
 * The bot's part of the panel: every bot message carries the visible label "Automated assistant"
 * (EU AI Act Art. 50; not configurable), its quick replies are buttons whose click sends the
 * payload as the visitor's message, and "Talk to a person" hands the conversation to people.
 */
import type { ChatMessage, ChatSession } from "./session";
import type { Strings } from "./strings";
import { h, type View } from "./view";

/** The label above a bot message's text. */
export const botLabel = (m: ChatMessage, s: Strings): Node[] =>
  m.bot ? [h("p", { class: "i ai" }, m.bot.name + " · " + s.bot)] : [];

/** A bot message's quick replies: titles as text, payloads as data (shown under the last message only). */
export const quickReplies = (m: ChatMessage): Node[] =>
  m.buttons?.length
    ? [h("div", { class: "qr" }, ...m.buttons.map((b) => h("button", { type: "button", "data-p": b.payload }, b.title)))]
    : [];

export function mountBot(
  view: View,
  s: Strings,
  session: ChatSession,
  write: (text: string) => void,
  say: (text: string) => void,
) {
  const human = h("button", { type: "button", class: "f", hidden: "" }, s.human);
  view.panel.insertBefore(human, view.composer);
  view.panel.addEventListener("click", (event) => {
    const payload = (event.target as HTMLElement).dataset.p;
    if (payload) write(payload);
  });
  human.addEventListener("click", () =>
    session.handover().then(
      (ack) => (ack.ok ? status(ack.status as string, true) : say(s.unavailable)),
      () => say(s.unavailable),
    ),
  );
  /** "Talk to a person" stays offered while the bot has the conversation. */
  function status(st: string | null, handed?: boolean): void {
    human.hidden = st != "bot";
    if (handed) say(s.handed);
  }
  return {
    status,
    /** Before contact: the bot's greeting, shown here only (nothing is sent or stored). */
    greet(bot: { name: string; greeting: string | null } | null): void {
      if (!bot) return;
      status("bot");
      const at = new Date().toISOString();
      if (bot.greeting) view.show({ id: "0", sender: "bot", bot, text: bot.greeting, created_at: at }, "delivered");
    },
  };
}
