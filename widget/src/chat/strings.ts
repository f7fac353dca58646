/** The string catalogue: every word the panel shows, in English and Dutch. */
import type { Lang } from "../types";

const en = {
  title: "Chat with us",
  close: "Close chat",
  messages: "Messages",
  you: "You",
  agent: "Support",
  yourMessage: "Your message",
  send: "Send",
  queued: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  failed: "Not sent",
  typing: "Support is typing…",
  privacy: "Privacy notice",
  forget: "End chat and forget this device",
  forgotten: "This device no longer keeps the chat.",
  offline: "No one is online right now. Leave a message and we will answer by e-mail.",
  email: "E-mail (required)",
  name: "Name (optional)",
  message: "Message",
  leave: "Leave a message",
  thanks: "Thank you. We will answer by e-mail.",
  reconnecting: "Connection lost. Reconnecting…",
  unavailable: "The chat is not available right now. Please try again later.",
  closed: "This conversation was closed. Write again to reopen it.",
  wait: "We are a little busy: your message will be sent in {seconds} seconds. No need to send it again.",
  attach: "Attach file",
};

export type Strings = typeof en;

const nl: Strings = {
  title: "Chat met ons",
  close: "Chat sluiten",
  messages: "Berichten",
  you: "Jij",
  agent: "Support",
  yourMessage: "Je bericht",
  send: "Versturen",
  queued: "Versturen…",
  sent: "Verstuurd",
  delivered: "Afgeleverd",
  failed: "Niet verstuurd",
  typing: "Support is aan het typen…",
  privacy: "Privacyverklaring",
  forget: "Chat beëindigen en dit apparaat vergeten",
  forgotten: "Dit apparaat bewaart de chat niet meer.",
  offline: "Er is nu niemand online. Laat een bericht achter, dan antwoorden we per e-mail.",
  email: "E-mailadres (verplicht)",
  name: "Naam (optioneel)",
  message: "Bericht",
  leave: "Bericht achterlaten",
  thanks: "Bedankt. We antwoorden per e-mail.",
  reconnecting: "Verbinding verbroken. Opnieuw verbinden…",
  unavailable: "De chat is nu niet beschikbaar. Probeer het later opnieuw.",
  closed: "Dit gesprek is gesloten. Schrijf opnieuw om het te heropenen.",
  wait: "Het is even druk: je bericht wordt over {seconds} seconden verstuurd. Je hoeft het niet opnieuw te sturen.",
  attach: "Bestand bijvoegen",
};

export const STRINGS: Record<Lang, Strings> = { en, nl };
