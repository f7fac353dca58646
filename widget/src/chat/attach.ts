/**
 * Files in the chat: the attach button (a hidden file input) and a download link per file. The
 * conversation token travels in a header, never in a URL.
 */
import type { ChatMessage } from "./session";
import { h } from "./view";

export interface FileRef {
  id: string;
  name: string;
  type: string;
  size: number;
}

let api = "";
let token: () => string | null = () => null;

/** The chat server and where the conversation token is kept. */
export function setup(origin: string, tokenOf: () => string | null): void {
  api = origin + "/api/";
  token = tokenOf;
}

const auth = () => ({ Authorization: "Bearer " + token() });

/** A link that fetches the file with the token on first click, then saves it under its name. */
export function fileLink(file: FileRef): HTMLElement {
  const link = h("a", { href: "#", download: file.name }, file.name);
  link.onclick = (event) => {
    if (link.href.startsWith("blob:")) return;
    event.preventDefault();
    fetch(api + "attachments/" + file.id, { headers: auth() })
      .then((r) => (r.ok ? r.blob() : Promise.reject()))
      .then((blob) => {
        link.href = URL.createObjectURL(blob);
        link.click();
      }, Boolean);
  };
  return link;
}

/** The attach button and its hidden file input; `chosen` gets the file the visitor picked. */
export function attachButton(label: string, chosen: (file: File) => void): HTMLElement[] {
  const input = h("input", { type: "file", accept: "image/*,application/pdf", hidden: "" });
  const button = h("button", { type: "button", class: "k", "aria-label": label, title: label, hidden: "" }, "+");
  button.onclick = () => input.click();
  input.onchange = () => {
    const file = input.files?.[0];
    input.value = "";
    if (file) chosen(file);
  };
  return [input, button];
}

/** Send a file into the conversation; resolves with the stored message. */
export async function upload(file: File): Promise<ChatMessage> {
  const body = new FormData();
  body.append("file", file);
  const response = await fetch(`${api}conversations/${token()?.split(".")[0]}/attachments`, {
    method: "POST",
    headers: auth(),
    body,
  });
  if (!response.ok) throw response.status;
  return (await response.json()).message;
}
