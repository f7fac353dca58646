/**
 * "Send by e-mail" beside Send, for a conversation whose visitor left an e-mail address (an offline
 * message): the answer is stored in the conversation like a reply and mailed to the visitor through
 * the server's outbox (socket event `email_reply`, same payload and ack as `reply`).
 */
import type { AgentSocket, Message, Opened } from "./agent";
import { h } from "./dom";

const WORDS = {
  en: { label: "Send by e-mail", sent: "Sent by e-mail to {email}." },
  nl: { label: "Per e-mail versturen", sent: "Per e-mail verstuurd naar {email}." },
};

export interface EmailReplyHooks {
  lang: string;
  socket: AgentSocket;
  composer: HTMLTextAreaElement;
  clientId(): string;
  sent(message: Message, note: string): void;
  failed(err: unknown): void;
}

/** The button, or nothing when there is no address to answer (the server checks again). */
export function emailReplyButton(opened: Opened, hooks: EmailReplyHooks): HTMLButtonElement[] {
  const email = opened.visitor.email;
  if (!email) return [];
  const words = WORDS[hooks.lang === "nl" ? "nl" : "en"];
  const button = h("button", { type: "button", "data-key": "email-reply" }, words.label);
  button.addEventListener("click", async () => {
    const { composer } = hooks;
    const text = composer.value.trim();
    if (!text || composer.disabled || button.disabled) return;
    button.disabled = true;
    composer.value = "";
    try {
      const { message } = await hooks.socket.call<{ message: Message }>("email_reply", {
        conversation_id: opened.id,
        client_id: hooks.clientId(),
        text,
      });
      hooks.sent(message, words.sent.replace("{email}", email));
    } catch (err) {
      composer.value = text; // nothing is lost: the agent can send it again
      hooks.failed(err);
    } finally {
      button.disabled = false;
    }
  });
  return [button];
}
