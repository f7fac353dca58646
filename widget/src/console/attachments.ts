/**
 * Files in a conversation: a thumbnail (images) or a link per attached file, fetched with the
 * session cookie and saved under its name, and the reply area's attach button.
 */
import type { Message } from "./agent";
import { csrfToken, failed } from "./api";
import { h } from "./dom";

export interface FileRef {
  id: string;
  name: string;
  type: string;
  size: number;
  /** Deleted by retention (pseudonymisation); the message keeps the kind and size only. */
  removed?: boolean;
}

const STRINGS = {
  en: {
    attach: "Attach file",
    attachHint: "Attach an image or PDF file",
    removed: "File removed by the retention policy",
    failed: "The file was not sent: {message}",
  },
  nl: {
    attach: "Bestand toevoegen",
    attachHint: "Een afbeelding of pdf-bestand toevoegen",
    removed: "Bestand verwijderd door het bewaarbeleid",
    failed: "Het bestand is niet verstuurd: {message}",
  },
};
const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,application/pdf";

function strings(lang: string): (typeof STRINGS)["en"] {
  return lang === "nl" ? STRINGS.nl : STRINGS.en;
}

function size(bytes: number, lang: string): string {
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, "KB"] : [bytes / 1024 / 1024, "MB"];
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(value)} ${unit}`;
}

async function blobUrl(id: string): Promise<string> {
  const response = await fetch(`/api/attachments/${encodeURIComponent(id)}`, { credentials: "same-origin" });
  if (!response.ok) throw await failed(response);
  return URL.createObjectURL(await response.blob());
}

/** What a message shows for its file: the image itself (a link that saves it) or a link. */
export function fileView(file: FileRef, lang: string): HTMLElement {
  if (file.removed) return h("span", { class: "file removed" }, strings(lang).removed);
  const link = h("a", { href: "#", class: "file", download: file.name }, `${file.name} (${size(file.size, lang)})`);
  let url: Promise<string> | undefined;
  const load = (): Promise<string> => (url ??= blobUrl(file.id));
  link.addEventListener("click", (event) => {
    if (link.href.startsWith("blob:")) return;
    event.preventDefault();
    void load().then((href) => {
      link.href = href;
      link.click();
    });
  });
  if (file.type.startsWith("image/")) {
    void load().then((href) => {
      link.href = href;
      link.prepend(h("img", { class: "thumb", src: href, alt: "" }));
    });
  }
  return link;
}

function newClientId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function upload(conversationId: string, file: File): Promise<Message> {
  const body = new FormData();
  body.append("client_id", newClientId());
  body.append("file", file);
  const response = await fetch(`/api/conversations/${encodeURIComponent(conversationId)}/attachments`, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body,
    credentials: "same-origin",
  });
  if (!response.ok) throw await failed(response);
  return ((await response.json()) as { message: Message }).message;
}

/** The reply area's attach button: picks a file, sends it, hands back the stored message. */
export function attachControl(
  conversationId: string,
  lang: string,
  stored: (message: Message) => void,
  failure: (text: string) => void,
): HTMLElement {
  const s = strings(lang);
  const input = h("input", { type: "file", accept: ACCEPT, hidden: true, tabindex: "-1", "aria-hidden": "true" });
  const button = h("button", { type: "button", class: "attach", "data-key": "attach", title: s.attachHint }, s.attach);
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    button.disabled = true;
    upload(conversationId, file)
      .then(stored, (err: unknown) =>
        failure(s.failed.replace("{message}", err instanceof Error ? err.message : String(err))),
      )
      .finally(() => (button.disabled = false));
  });
  return h("span", { class: "attach-control" }, input, button);
}
