/** The console: sign-in, the shell with its pages, the live inbox and the keyboard shortcuts. */
import { loginPage, passwordForm, secondFactorSection, sessionsSection } from "./account";
import { auditPage, cannedPage, usersPage } from "./admin";
import { botsPage } from "./bots";
import {
  AgentSocket,
  type AgentStatus,
  type Colleague,
  type ColleagueActivity,
  type Row,
  type View,
} from "./agent";
import { Alerts } from "./alerts";
import { api, ApiError, type Canned, type User } from "./api";
import { visitorLabel } from "./authors";
import { Details } from "./details";
import { h, isTyping, patch } from "./dom";
import { countOpen, renderRows, renderTabs, rowLabel, type Counts } from "./inbox";
import { Panes } from "./layout";
import { privacyPage } from "./privacy";
import { reportsPage } from "./reports";
import { searchPage } from "./search";
import { teamsPage } from "./teams";
import { webhooksPage } from "./webhooks";
import { initialLang, rememberLang, translator, type Lang, type Strings, type Translate } from "./strings";
import { EarlyEvents, Thread } from "./thread";

/** What a page needs from the shell to draw itself. */
export interface PageContext {
  t: Translate;
  lang: Lang;
  user: User;
  loadCanned(): void;
  refreshUser(): void;
  signedOutHere(): void;
  /** Colleagues for pickers (search), and opening a conversation from a page in the inbox. */
  colleagues(): { id: string; name: string }[];
  openConversation(id: string): void;
}

/**
 * The console's pages, in menu order: `#<name>` opens one (`/console/#users`). Another module adds
 * a page by adding an entry here (and its title to strings.ts); `inbox` is drawn by the app itself.
 */
export const PAGES: { name: string; title: keyof Strings; admin: boolean; render?(ctx: PageContext): HTMLElement }[] = [
  { name: "inbox", title: "inbox", admin: false },
  {
    name: "search",
    title: "searchTitle",
    admin: false,
    render: (c) => searchPage(c.t, c.lang, c.colleagues, (id) => c.openConversation(id)),
  },
  { name: "reports", title: "reports", admin: false, render: (c) => reportsPage(c.t, c.lang) },
  { name: "teams", title: "teams", admin: true, render: (c) => teamsPage(c.t) },
  { name: "canned", title: "cannedList", admin: true, render: (c) => cannedPage(c.t, c.loadCanned) },
  { name: "users", title: "users", admin: true, render: (c) => usersPage(c.t, c.user) },
  { name: "audit", title: "audit", admin: true, render: (c) => auditPage(c.t, c.lang) },
  { name: "privacy", title: "privacy", admin: true, render: (c) => privacyPage(c.t, c.lang) },
  { name: "webhooks", title: "webhooks", admin: true, render: (c) => webhooksPage(c.t, c.lang) },
  { name: "bots", title: "bots", admin: true, render: (c) => botsPage(c.t) },
  {
    name: "account",
    title: "account",
    admin: false,
    render: (c) =>
      h(
        "section",
        { class: "page", "aria-labelledby": "account-title" },
        h("h1", { id: "account-title", tabindex: "-1" }, c.t("account")),
        h("p", {}, c.user.email),
        passwordForm(c.t, false, () => undefined),
        secondFactorSection(c.t, c.user, c.refreshUser),
        sessionsSection(c.t, c.signedOutHere),
      ),
  },
];
type Page = string;
const BASE = "/console/";
const DEEP_LINK = /^\/console\/c\/(c[0-9a-f]{24})$/;
const conversationHref = (id: string): string => `${BASE}c/${id}`;
const COLLEAGUE_TYPING_MS = 8000;
const SHORTCUTS: [string, keyof Strings][] = [
  ["j", "keyNext"],
  ["k", "keyPrev"],
  ["a", "keyClaim"],
  ["c", "keyClose"],
  ["r", "keyReply"],
  ["?", "keyHelp"],
  ["Esc", "keyEscape"],
];
const CLOCK_TICK_MS = 30_000;

export class ConsoleApp {
  private lang: Lang = initialLang();
  private t: Translate = translator(this.lang);
  private user?: User;
  private socket?: AgentSocket;
  private readonly agents = new Map<string, Colleague>();
  private canned: Canned[] = [];
  private view: View = "waiting";
  private rows: Row[] = [];
  private counts?: Counts & { unread: number };
  private thread?: Thread;
  private details?: Details;
  private page: Page = "inbox";
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private refreshSeq = 0;
  private openSeq = 0;
  private readonly early = new EarlyEvents();
  /** Colleagues showing the open conversation: user id -> typing now. */
  private readonly present = new Map<string, boolean>();
  private readonly presentTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly live = h("div", { class: "sr", "aria-live": "polite" });
  private readonly tablist = h("div", { role: "tablist", class: "tabs" });
  private readonly list = h("ul", { class: "rows" });
  private readonly tabpanel = h("div", { id: "inbox-list", role: "tabpanel" }, this.list);
  private readonly threadPane = h("div", { class: "thread" });
  private readonly detailsSlot = h("div", { class: "details-slot" });
  private readonly agentList = h("ul", { class: "agents" });
  private readonly connection = h("p", { class: "connection", role: "status" });
  private readonly main = h("main", { id: "main" });
  private readonly help = h("dialog", { class: "help", "aria-labelledby": "help-title" });
  private alerts = new Alerts(this.t);
  private panes?: Panes;
  private statusSelect?: HTMLSelectElement;

  constructor(private readonly root: HTMLElement) {
    document.body.append(this.live, this.help);
    document.addEventListener("keydown", (event) => this.onShortcut(event));
    window.addEventListener("hashchange", () => this.route(true));
    window.addEventListener("popstate", () => this.route(true));
    setInterval(() => this.renderList(), CLOCK_TICK_MS);
  }

  async start(notice = ""): Promise<void> {
    document.documentElement.lang = this.lang;
    try {
      const session = await api.session();
      this.signedIn(session.user, session.second_factor_setup_required ?? false);
    } catch {
      this.showLogin(notice);
    }
  }

  // --- signing in and out -----------------------------------------------------------------------

  private showLogin(notice = ""): void {
    this.socket?.disconnect();
    this.socket = undefined;
    this.user = undefined;
    this.thread = undefined;
    document.title = `${this.t("signIn")} – ${this.t("appName")}`;
    patch(this.root, loginPage(this.t, notice, () => void this.start()));
  }

  private signedIn(user: User, setupRequired = false): void {
    this.user = user;
    if (user.must_change_password) {
      this.showForcedPasswordChange();
      return;
    }
    if (setupRequired) {
      this.showForcedSecondFactor();
      return;
    }
    this.connect();
    this.renderShell();
  }

  /** Admins under CHAT_REQUIRE_2FA_FOR_ADMINS set up the second factor before anything else. */
  private showForcedSecondFactor(): void {
    this.socket?.disconnect();
    this.socket = undefined;
    if (!this.user) return;
    const logout = h("button", { type: "button" }, this.t("logout"));
    logout.addEventListener("click", () => void this.logout());
    document.title = `${this.t("twoFactor")} – ${this.t("appName")}`;
    patch(
      this.root,
      h(
        "main",
        { class: "login" },
        h("h1", {}, this.t("appName")),
        h("p", {}, this.t("twoFactorRequired")),
        secondFactorSection(this.t, this.user, () => void this.start()),
        h("p", {}, logout),
      ),
    );
  }

  private showForcedPasswordChange(): void {
    this.socket?.disconnect();
    this.socket = undefined;
    const logout = h("button", { type: "button" }, this.t("logout"));
    logout.addEventListener("click", () => void this.logout());
    document.title = `${this.t("changePassword")} – ${this.t("appName")}`;
    patch(
      this.root,
      h(
        "main",
        { class: "login" },
        h("h1", {}, this.t("appName")),
        passwordForm(this.t, true, () => void this.start()),
        h("p", {}, logout),
      ),
    );
  }

  /** After a change to the account (second factor on or off): re-read it and redraw the page. */
  private async refreshUser(): Promise<void> {
    try {
      this.user = (await api.session()).user;
      this.showPage(this.page, true);
    } catch {
      this.showLogin(this.t("signedOut"));
    }
  }

  private async logout(): Promise<void> {
    this.socket?.disconnect();
    this.socket = undefined;
    await api.logout().catch(() => undefined);
    this.showLogin();
  }

  /** The server closed our socket (e.g. the account was disabled): still signed in? */
  private async ended(code: string): Promise<void> {
    if (code === "password_change_required") {
      this.showForcedPasswordChange();
      return;
    }
    if (code === "second_factor_setup_required") {
      this.showForcedSecondFactor();
      return;
    }
    try {
      const { user } = await api.session();
      if (code === "disconnected" && !user.disabled) {
        this.socket = undefined;
        this.connect();
        return;
      }
    } catch (err) {
      if (!(err instanceof ApiError)) {
        this.connection.textContent = this.t("connectionLost");
        setTimeout(() => void this.ended(code), 2000);
        return;
      }
    }
    this.showLogin(this.t("signedOut"));
  }

  private connect(): void {
    if (this.socket) return;
    const socket = new AgentSocket({
      connected: () => {
        this.connection.textContent = "";
        void this.loadAgents();
        void this.loadCanned();
        this.scheduleRefresh();
        if (this.thread) void this.select(this.thread.id, "none");
      },
      ended: (code) => {
        if (socket === this.socket) void this.ended(code);
      },
      lost: () => {
        this.connection.textContent = this.t("connectionLost");
      },
      created: (conversation) => {
        this.announce(this.t("newConversation"));
        this.alerts.newConversation(conversation.id);
        this.scheduleRefresh();
      },
      message: (message) => {
        this.early.message(message);
        if (this.thread?.id === message.conversation_id) this.thread.received(message);
        else if (message.sender === "visitor") {
          const row = this.rows.find((r) => r.id === message.conversation_id);
          this.announce(this.t("newMessageFrom", { name: row ? rowLabel(this.t, row) : this.t("visitor") }));
        }
        this.scheduleRefresh();
      },
      typing: (conversationId, typing) => {
        this.early.typing(conversationId, typing);
        if (this.thread?.id === conversationId) this.thread.setTyping(typing);
      },
      updated: (conversation) => {
        if (this.thread?.id === conversation.id) this.thread.update(conversation);
        if (this.details?.id === conversation.id) this.details.update(conversation);
        this.scheduleRefresh();
      },
      presence: (userId, online, status) => {
        const agent = this.agents.get(userId);
        if (agent) {
          agent.online = online;
          if (status) agent.status = status;
          if (!online) this.colleagueLeft(userId);
          this.renderAgents();
        } else void this.loadAgents();
        if (userId === this.user?.id && status && this.statusSelect) this.statusSelect.value = status;
      },
      note: (note) => {
        if (this.thread?.id !== note.conversation_id) return;
        if (this.thread.appendNote(note)) this.announce(this.t("newNote", { name: this.agentName(note.author_id) }));
      },
      colleague: (activity) => this.onColleague(activity),
    });
    this.socket = socket;
  }

  // --- the shell, its pages and the address bar -------------------------------------------------

  private pageFromHash(): Page {
    const name = location.hash.slice(1);
    const page = PAGES.find((p) => p.name === name && (!p.admin || this.user?.role === "admin"));
    return page ? page.name : "inbox";
  }

  /** Show what the address says: `#<page>`, or `/console/c/<id>` (a conversation in the inbox). */
  private route(focus: boolean): void {
    if (!this.user || this.user.must_change_password || !this.panes) return;
    const deep = DEEP_LINK.exec(location.pathname);
    const page = deep ? "inbox" : this.pageFromHash();
    if (page !== this.page || !this.main.firstChild) this.showPage(page, focus && !deep);
    if (page !== "inbox") return;
    if (deep && deep[1] !== this.thread?.id) void this.select(deep[1], focus ? "heading" : "none");
    else if (!deep && this.thread) this.closeThread();
  }

  /** Go to a console address (pushed on the history, so back and forward work). */
  private navigate(url: string): void {
    if (location.pathname + location.hash !== url) history.pushState(null, "", url);
    this.route(true);
  }

  private openConversation(id: string): void {
    this.navigate(conversationHref(id));
  }

  private renderShell(): void {
    const t = this.t;
    const user = this.user;
    if (!user) return;
    const language = h(
      "select",
      { id: "lang" },
      h("option", { value: "en", selected: this.lang === "en" }, "English"),
      h("option", { value: "nl", selected: this.lang === "nl" }, "Nederlands"),
    );
    language.addEventListener("change", () => this.switchLanguage(language.value as Lang));
    const status = (this.statusSelect = h(
      "select",
      { id: "my-status" },
      (["online", "away", "offline"] as const).map((s) =>
        h("option", { value: s }, t(s === "online" ? "statusOnline" : s === "away" ? "statusAway" : "statusOffline")),
      ),
    ));
    status.value = this.agents.get(user.id)?.status ?? "online";
    status.addEventListener("change", () => void this.chooseStatus(status.value as AgentStatus));
    const logout = h("button", { type: "button" }, t("logout"));
    logout.addEventListener("click", () => void this.logout());
    const links = PAGES.filter((p) => !p.admin || user.role === "admin").map((p) => {
      const link = h("a", { href: p.name === "inbox" ? BASE : `${BASE}#${p.name}`, "data-page": p.name }, t(p.title));
      link.addEventListener("click", (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        this.navigate(link.getAttribute("href") ?? BASE);
      });
      return h("li", {}, link);
    });
    this.alerts = new Alerts(t);
    this.panes = this.inboxPanes();
    patch(
      this.root,
      h(
        "header",
        { class: "top" },
        h("p", { class: "brand" }, t("appName")),
        h("nav", { "aria-label": t("mainNav") }, h("ul", {}, links)),
        h("p", { class: "me" }, user.display_name || user.email),
        h("p", { class: "status-pick" }, h("label", { for: "my-status" }, t("myStatus")), " ", status),
        h("p", { class: "lang" }, h("label", { for: "lang" }, t("language")), " ", language),
        logout,
      ),
      this.connection,
      this.main,
    );
    this.page = "";
    this.route(false);
  }

  private showPage(page: Page, focus: boolean): void {
    const user = this.user;
    if (!user || user.must_change_password) return;
    if (page !== "inbox" && this.thread) this.closeThread();
    this.page = page;
    for (const link of this.root.querySelectorAll<HTMLAnchorElement>("nav a")) {
      if (link.dataset.page === page) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const def = PAGES.find((p) => p.name === page);
    const content =
      def?.render?.({
        t: this.t,
        lang: this.lang,
        user,
        loadCanned: () => void this.loadCanned(),
        refreshUser: () => void this.refreshUser(),
        colleagues: this.colleagues,
        openConversation: (id) => this.openFromPage(id),
        signedOutHere: () => {
          this.socket?.disconnect();
          this.socket = undefined;
          this.showLogin(this.t("signedOut"));
        },
      }) ?? this.inboxPage();
    this.main.classList.toggle("full", page === "inbox");
    patch(this.main, content);
    this.setTitle();
    if (focus) content.querySelector<HTMLElement>("h1")?.focus();
  }

  private inboxPanes(): Panes {
    const t = this.t;
    const compact = h("input", { type: "checkbox", id: "compact-toggle" });
    const panes = new Panes(
      t,
      h(
        "section",
        { class: "list pane", "aria-labelledby": "inbox-title" },
        h("div", { class: "list-head" }, h("h1", { id: "inbox-title", tabindex: "-1" }, t("inbox"))),
        h(
          "div",
          { class: "list-tools" },
          h("span", { class: "switch" }, compact, h("label", { for: "compact-toggle" }, t("compact"))),
          this.alerts.element,
        ),
        this.tablist,
        this.tabpanel,
      ),
      h("div", { class: "conversation-pane pane" }, this.threadPane),
      h(
        "aside",
        { class: "side pane", "aria-label": t("details") },
        this.detailsSlot,
        h("h2", { id: "agents-title" }, t("agents")),
        this.agentList,
        h("p", { class: "hint" }, h("kbd", {}, "?"), " ", t("shortcuts")),
      ),
    );
    compact.checked = panes.compact;
    compact.addEventListener("change", () => panes.setCompact(compact.checked));
    return panes;
  }

  private inboxPage(): HTMLElement {
    this.renderList();
    this.renderAgents();
    if (!this.thread) this.showPlaceholder(this.t("pickConversation"));
    return this.panes?.element ?? h("div");
  }

  private showPlaceholder(text: string): void {
    patch(this.threadPane, h("p", { class: "placeholder" }, text));
    patch(this.detailsSlot);
  }

  private switchLanguage(lang: Lang): void {
    this.lang = lang;
    this.t = translator(lang);
    rememberLang(lang);
    document.documentElement.lang = lang;
    const open = this.thread?.id;
    this.thread?.dispose();
    this.thread = undefined;
    this.details = undefined;
    this.renderShell(); // reopens the conversation the address names
    if (open && !DEEP_LINK.test(location.pathname)) void this.select(open, "none");
    this.root.querySelector<HTMLSelectElement>("#lang")?.focus();
  }

  private setTitle(): void {
    const name = PAGES.find((p) => p.name === this.page)?.title ?? "inbox";
    const badge = this.counts?.unread ? `(${this.counts.unread}) ` : "";
    document.title = `${badge}${this.t(name)} – ${this.t("appName")}`;
  }

  private announce(text: string): void {
    this.live.textContent = "";
    this.live.textContent = text;
  }

  private async chooseStatus(status: AgentStatus): Promise<void> {
    const me = this.user && this.agents.get(this.user.id);
    try {
      await this.socket?.setStatus(status);
      if (me) me.status = status;
      this.renderAgents();
    } catch (err) {
      if (this.statusSelect) this.statusSelect.value = me?.status ?? "online";
      this.announce(this.t("error", { message: err instanceof Error ? err.message : String(err) }));
    }
  }

  // --- the inbox --------------------------------------------------------------------------------

  private agentName = (id: string): string => this.agents.get(id)?.display_name ?? id;

  private colleagues = (): { id: string; name: string }[] =>
    [...this.agents.values()].map((a) => ({ id: a.id, name: a.display_name }));

  /** A conversation picked on another page (search): show it in the inbox. */
  private openFromPage(id: string): void {
    location.hash = "#inbox";
    void this.select(id, "heading");
  }

  private async loadAgents(): Promise<void> {
    try {
      const { agents } = (await this.socket?.agents()) ?? { agents: [] };
      this.agents.clear();
      for (const agent of agents) this.agents.set(agent.id, agent);
      const mine = this.user && this.agents.get(this.user.id)?.status;
      if (mine && this.statusSelect) this.statusSelect.value = mine;
      this.renderAgents();
      this.renderList();
      this.thread?.refreshAgents();
    } catch {
      // shown again on the next presence event or reconnect
    }
  }

  private async loadCanned(): Promise<void> {
    try {
      this.canned = (await this.socket?.canned())?.canned ?? [];
    } catch {
      // the reply box works without them
    }
  }

  private agentState(a: Colleague): "online" | "away" | "offline" {
    if (!a.online) return "offline";
    return a.status ?? "online";
  }

  private renderAgents(): void {
    const me = this.user?.id;
    const rank = { online: 0, away: 1, offline: 2 };
    const agents = [...this.agents.values()].sort(
      (a, b) =>
        rank[this.agentState(a)] - rank[this.agentState(b)] || a.display_name.localeCompare(b.display_name),
    );
    const word = { online: this.t("online"), away: this.t("away"), offline: this.t("offlineAgent") };
    patch(
      this.agentList,
      agents.map((a) => {
        const state = this.agentState(a);
        return h(
          "li",
          { class: state === "online" ? "on" : state },
          h("span", { class: "dot", "aria-hidden": "true" }),
          a.display_name + (a.id === me ? ` (${this.t("you")})` : ""),
          h("span", { class: "state" }, ` – ${word[state]}`),
        );
      }),
    );
  }

  private naming() {
    return { t: this.t, me: this.user?.id ?? "", agentName: this.agentName };
  }

  private renderList(): void {
    if (!this.user) return;
    renderTabs(this.tablist, this.t, this.view, this.counts, (view, focus) => this.chooseView(view, focus));
    this.tabpanel.setAttribute("aria-labelledby", `tab-${this.view}`);
    renderRows(this.list, this.naming(), this.rows, this.thread?.id, conversationHref, (id) =>
      this.openConversation(id),
    );
  }

  private chooseView(view: View, focus: boolean): void {
    this.view = view;
    this.rows = [];
    this.renderList();
    if (focus) this.tablist.querySelector<HTMLElement>(`#tab-${view}`)?.focus();
    void this.refresh();
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), 80);
  }

  private async refresh(): Promise<void> {
    const socket = this.socket;
    const me = this.user?.id;
    if (!socket || !me) return;
    const seq = ++this.refreshSeq;
    try {
      const [current, open] = await Promise.all([
        socket.list(this.view),
        this.view === "open" ? undefined : socket.list("open"),
      ]);
      if (seq !== this.refreshSeq) return;
      this.rows = current.conversations;
      this.counts = countOpen((open ?? current).conversations, me);
      this.renderList();
      this.setTitle();
    } catch {
      // disconnected: refreshed again on reconnect
    }
  }

  private closeThread(): void {
    this.openSeq++;
    this.thread?.dispose();
    this.thread = undefined;
    this.details = undefined;
    this.clearColleagues();
    void this.socket?.viewing(null).catch(() => undefined);
    this.showPlaceholder(this.t("pickConversation"));
    this.renderList();
  }

  private async select(id: string, focus: "heading" | "row" | "none"): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    const seq = ++this.openSeq;
    this.early.startOpening(id);
    try {
      const { conversation, messages, notes } = await socket.open(id);
      if (seq !== this.openSeq) return;
      this.thread?.dispose();
      if (this.thread?.id !== id) this.clearColleagues();
      const row = this.rows.find((r) => r.id === id);
      const label = visitorLabel(this.t, conversation.visitor.name ?? row?.label, conversation.visitor_ref);
      const thread = (this.thread = new Thread(
        {
          t: this.t,
          lang: this.lang,
          me: this.user?.id ?? "",
          socket,
          canned: () => this.canned,
          agents: () => [...this.agents.values()].map((a) => ({ id: a.id, name: a.display_name, online: a.online })),
          agentName: this.agentName,
        },
        conversation,
        label,
        messages,
        notes ?? [],
      ));
      this.details = new Details(
        { t: this.t, lang: this.lang, socket, href: conversationHref, open: (other) => this.openConversation(other) },
        conversation,
      );
      patch(this.threadPane, thread.element);
      patch(this.detailsSlot, this.details.element);
      this.early.ready(thread);
      thread.showColleagues(this.present);
      this.renderList();
      if (focus === "heading") thread.heading.focus();
      else if (focus === "row") this.list.querySelector<HTMLElement>(`[data-conversation="${CSS.escape(id)}"]`)?.focus();
      void socket.viewing(id).catch(() => undefined);
      await thread.markRead();
      this.scheduleRefresh();
    } catch (err) {
      if (seq !== this.openSeq) return;
      const message = err instanceof Error ? err.message : String(err);
      if ((err as { code?: string }).code === "not_found") this.showPlaceholder(this.t("notFound"));
      else this.announce(this.t("error", { message }));
    }
  }

  // --- colleagues on the open conversation ------------------------------------------------------

  private onColleague(activity: ColleagueActivity): void {
    const thread = this.thread;
    if (!thread || activity.conversation_id !== thread.id || activity.user_id === this.user?.id) return;
    if (activity.ask) void this.socket?.viewing(thread.id, true).catch(() => undefined);
    clearTimeout(this.presentTimers.get(activity.user_id));
    if (!activity.viewing) this.present.delete(activity.user_id);
    else {
      this.present.set(activity.user_id, activity.typing);
      // A lost "stopped typing" must not show forever.
      if (activity.typing)
        this.presentTimers.set(
          activity.user_id,
          setTimeout(() => {
            if (this.present.has(activity.user_id)) this.present.set(activity.user_id, false);
            this.thread?.showColleagues(this.present);
          }, COLLEAGUE_TYPING_MS),
        );
    }
    thread.showColleagues(this.present);
  }

  private colleagueLeft(userId: string): void {
    if (this.present.delete(userId)) this.thread?.showColleagues(this.present);
  }

  private clearColleagues(): void {
    for (const timer of this.presentTimers.values()) clearTimeout(timer);
    this.presentTimers.clear();
    this.present.clear();
  }

  // --- keyboard ---------------------------------------------------------------------------------

  private onShortcut(event: KeyboardEvent): void {
    if (!this.socket || event.ctrlKey || event.metaKey || event.altKey || this.help.open) return;
    if (isTyping(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      this.showHelp();
      return;
    }
    if (this.page !== "inbox") return;
    const thread = this.thread;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      const index = this.rows.findIndex((r) => r.id === thread?.id);
      const next = this.rows[index < 0 ? 0 : index + (event.key === "j" ? 1 : -1)];
      if (next) {
        if (location.pathname !== conversationHref(next.id)) history.pushState(null, "", conversationHref(next.id));
        void this.select(next.id, "row");
      }
    } else if (thread && event.key === "a") {
      event.preventDefault();
      void thread.claim();
    } else if (thread && event.key === "c") {
      event.preventDefault();
      void thread.setStatus("close");
    } else if (thread && event.key === "r") {
      event.preventDefault();
      thread.composer.focus();
    }
  }

  private showHelp(): void {
    const t = this.t;
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const close = h("button", { type: "button", class: "primary" }, t("cancel"));
    close.addEventListener("click", () => this.help.close());
    patch(
      this.help,
      h("h2", { id: "help-title" }, t("shortcuts")),
      h(
        "dl",
        {},
        SHORTCUTS.map(([key, text]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, t(text))]),
      ),
      close,
    );
    this.help.addEventListener("close", () => previous?.focus(), { once: true });
    this.help.showModal();
    close.focus();
  }
}
