/** The contract between the loader (widget.js) and the lazily loaded chat bundle. */

export type Lang = "en" | "nl";

/** The site's public look, from `GET /api/widget/site` (validated by the server; see branding.py). */
export interface Look {
  team_name?: string | null;
  /** Path of the logo on the chat server, or null. */
  logo?: string | null;
  greeting?: string | null;
  color?: string;
  text_color?: string;
  position?: string;
  launcher?: string | null;
}

export interface WidgetContext {
  /** Origin of the chat server, taken from the loader's own script URL. */
  origin: string;
  site: string;
  lang: Lang;
  /** Which corner the launcher sits in (the site's theme). */
  left: boolean;
  look: Look;
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
