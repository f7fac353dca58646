/** A tiny element builder: attributes and text nodes only, so nothing is ever parsed as HTML. */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (name === "value" && "value" in el) (el as HTMLInputElement).value = String(value);
    else if (name === "checked" || name === "selected") (el as unknown as Record<string, boolean>)[name] = true;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replace a container's content, keeping keyboard focus on the element with the same
 * `data-key` (live updates must not pull focus away from what the agent is on).
 */
export function patch(container: Element, ...children: Child[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset.key : undefined;
  container.replaceChildren();
  append(container, children);
  if (key) {
    const again = container.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);
    again?.focus();
  }
}

let nextId = 0;
export function uid(prefix: string): string {
  return `${prefix}-${++nextId}`;
}

/** Whether a key press is meant for a form control rather than for the console's shortcuts. */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

/**
 * Where a page tells the outcome of an action: a success in a polite status (role=status), a
 * failure in an alert (role=alert), each styled as what it is. Both regions exist from the start,
 * so screen readers announce what is written into them later.
 */
export class Notice {
  private readonly ok = h("p", { class: "notice", role: "status" });
  private readonly bad = h("p", { class: "error", role: "alert" });
  readonly element: HTMLElement = h("div", { class: "notices" }, this.ok, this.bad);

  success(text: string): void {
    this.bad.textContent = "";
    this.ok.textContent = text;
  }

  failure(text: string): void {
    this.ok.textContent = "";
    this.bad.textContent = text;
  }

  clear(): void {
    this.ok.textContent = this.bad.textContent = "";
  }

  /** The text shown now, success or failure. */
  get text(): string {
    return this.ok.textContent || this.bad.textContent || "";
  }
}
