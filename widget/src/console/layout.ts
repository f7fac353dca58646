/**
 * The inbox's three panes (list, conversation, details) filling the window's height, with
 * draggable (and keyboard-operable) splitters. Pane widths and the compact density are remembered
 * in this browser's localStorage only. Under 68rem the details pane becomes a drawer.
 */
import { h } from "./dom";
import type { Translate } from "./strings";

const STORAGE_KEY = "chat-console:layout";
const LIMITS = { list: [14, 36], details: [12, 30] } as const; // rem
const STEP = 1; // rem per arrow key

interface Saved {
  list: number;
  details: number;
  compact: boolean;
}

const DEFAULTS: Saved = { list: 25, details: 16, compact: false };

function load(): Saved {
  try {
    const raw = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") as Partial<Saved>;
    const clamp = (v: unknown, [lo, hi]: readonly [number, number], d: number) =>
      typeof v === "number" && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;
    return {
      list: clamp(raw.list, LIMITS.list, DEFAULTS.list),
      details: clamp(raw.details, LIMITS.details, DEFAULTS.details),
      compact: raw.compact === true,
    };
  } catch {
    return { ...DEFAULTS };
  }
}

function remPx(): number {
  return parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
}

export class Panes {
  readonly element: HTMLElement;
  readonly list: HTMLElement;
  readonly conversation: HTMLElement;
  readonly details: HTMLElement;
  readonly detailsToggle: HTMLButtonElement;
  private readonly saved = load();

  constructor(
    t: Translate,
    list: HTMLElement,
    conversation: HTMLElement,
    details: HTMLElement,
  ) {
    this.list = list;
    this.conversation = conversation;
    this.details = details;
    details.id = "details-pane";
    this.detailsToggle = h(
      "button",
      { type: "button", class: "details-toggle", "aria-controls": "details-pane", "aria-expanded": "false" },
      t("showDetails"),
    );
    conversation.prepend(this.detailsToggle);
    this.element = h(
      "div",
      { class: "inbox" },
      list,
      this.splitter(t("resizeList"), "list"),
      conversation,
      this.splitter(t("resizeDetails"), "details"),
      details,
    );
    this.detailsToggle.addEventListener("click", () => {
      const open = !this.element.classList.contains("show-details");
      this.element.classList.toggle("show-details", open);
      this.detailsToggle.setAttribute("aria-expanded", String(open));
    });
    this.apply();
  }

  get compact(): boolean {
    return this.saved.compact;
  }

  setCompact(on: boolean): void {
    this.saved.compact = on;
    this.apply();
    this.save();
  }

  private apply(): void {
    this.element.style.setProperty("--list-width", `${this.saved.list}rem`);
    this.element.style.setProperty("--details-width", `${this.saved.details}rem`);
    document.documentElement.classList.toggle("compact", this.saved.compact);
  }

  private save(): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.saved));
    } catch {
      // not remembered, still applied
    }
  }

  private splitter(label: string, pane: "list" | "details"): HTMLElement {
    const [lo, hi] = LIMITS[pane];
    const handle = h("div", {
      class: `splitter ${pane}`,
      role: "separator",
      tabindex: "0",
      "aria-orientation": "vertical",
      "aria-label": label,
      "aria-valuemin": lo,
      "aria-valuemax": hi,
      "aria-valuenow": Math.round(this.saved[pane]),
      "data-pane": pane,
    });
    const set = (rem: number) => {
      this.saved[pane] = Math.min(hi, Math.max(lo, rem));
      handle.setAttribute("aria-valuenow", String(Math.round(this.saved[pane])));
      this.apply();
    };
    handle.addEventListener("pointerdown", (down) => {
      down.preventDefault();
      handle.setPointerCapture(down.pointerId);
      const start = this.saved[pane];
      const move = (event: PointerEvent) => {
        // The list grows to the right, the details pane to the left.
        const delta = (event.clientX - down.clientX) / remPx();
        set(start + (pane === "list" ? delta : -delta));
      };
      const up = () => {
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", up);
        handle.removeEventListener("pointercancel", up);
        this.save();
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up);
      handle.addEventListener("pointercancel", up);
    });
    handle.addEventListener("keydown", (event) => {
      const sign = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!sign) return;
      event.preventDefault();
      set(this.saved[pane] + (pane === "list" ? sign : -sign) * STEP);
      this.save();
    });
    return handle;
  }
}
