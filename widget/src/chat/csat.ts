/** After a close: rate the chat 1–5 with an optional comment (sent once; nothing stored here). */
import type { Strings } from "./strings";
import { h } from "./view";

export function csatForm(s: Strings, send: (rating: number, comment: string) => void): HTMLFormElement {
  const comment = h("input", { id: "cm", maxlength: "1000" });
  const form = h("form", { class: "o rt", hidden: "" }, h("p", { class: "n" }, s.rate), h("label", { for: "cm" }, s.comment), comment);
  for (let n = 1; n < 6; n++) {
    const b = h("button", { type: "button", class: "k", "aria-label": s.stars.replace("{n}", String(n)) }, String(n));
    b.onclick = () => {
      send(n, comment.value.trim());
      form.replaceChildren(h("p", { class: "n", role: "status" }, s.rated));
    };
    form.append(b);
  }
  return form;
}
