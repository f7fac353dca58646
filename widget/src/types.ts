/** The contract between the loader (widget.js) and the lazily loaded chat bundle. */

export type Lang = "en" | "nl";

export interface WidgetContext {
  /** Origin of the chat server, taken from the loader's own script URL. */
  origin: string;
  site: string;
  lang: Lang;
  /** Which corner the launcher sits in (data-position). */
  left: boolean;
  /** localStorage key of this site's resume token (written only after the first message). */
  storageKey: string;
  root: ShadowRoot;
  launcher: HTMLButtonElement;
  setUnread(count: number): void;
}

export interface WidgetController {
  toggle(open?: boolean): void;
}

export type Mount = (ctx: WidgetContext) => WidgetController;
