/**
 * Files in the chat: the attach button and a link that downloads a file.
 * The conversation token travels in a header, never in a URL.
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
let token: () => string | null;

/** The chat server and where the conversation token is kept. */
export const setup = (origin: string, tokenOf: () => string | null): void => {
  api = origin + "/api/";
  token = tokenOf;
};

const call = (path: string, init?: RequestInit): Promise<Response> =>
  fetch(api + path, { ...init, headers: { Authorization: "Bearer " + token() } }).then((r) =>
    r.ok ? r : Promise.reject(),
  );

/** Fetched with the token when clicked, then saved under its name. */
export const fileLink = (file: FileRef): HTMLElement => {
  const link = h("a", { href: "#" }, file.name);
  link.onclick = (event) => {
    event.preventDefault();
    call("attachments/" + file.id)
      .then((r) => r.blob())
      .then((blob) => h("a", { href: URL.createObjectURL(blob), download: file.name }).click());
  };
  return link;
};

/** The attach button: a label drawn as a button around a visually hidden (still focusable) file input. */
export const attachButton = (label: string, chosen: (file: File) => void): HTMLElement => {
  const input = h("input", { type: "file", accept: "image/*,.pdf", class: "r", "aria-label": label });
  input.onchange = () => {
    if (input.files?.[0]) chosen(input.files[0]);
    input.value = "";
  };
  return h("label", { class: "k", hidden: "" }, "+", input);
};

/** Send a file into the conversation; resolves with the answer, `{conversation_id, message}`. */
export const upload = (file: File): Promise<{ message: ChatMessage }> => {
  const body = new FormData();
  body.append("file", file);
  return call(`conversations/${token()?.split(".")[0]}/attachments`, { method: "POST", body }).then((r) => r.json());
};
