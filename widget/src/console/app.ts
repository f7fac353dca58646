/** The console: sign-in, the shell with its pages, the live inbox and the keyboard shortcuts. */
import { loginPage, passwordForm, secondFactorSection, sessionsSection } from "./account";
import { auditPage, cannedPage, usersPage } from "./admin";
import { botsPage } from "./bots";
import { AgentSocket, type Colleague, type Row, type View } from "./agent";
import { api, ApiError, type Canned, type User } from "./api";
import { h, isTyping, patch } from "./dom";
import { countOpen, renderRows, renderTabs, type Counts } from "./inbox";
import { privacyPage } from "./privacy";
import { reportsPage } from "./reports";
import { searchPage } from "./search";
import { teamsPage } from "./teams";
import { webhooksPage } from "./webhooks";
import { initialLang, rememberLang, translator, type Lang, type Strings, type Translate } from "./strings";
import { EarlyEvents, Thread } from "./thread";

type Page =
  | "inbox"
  | "search"
  | "reports"
  | "teams"
  | "canned"
  | "users"
  | "audit"
  | "privacy"
  | "webhooks"
  | "bots"
  | "account";
const PAGES: [Page, keyof Strings, boolean][] = [
  ["inbox", "inbox", false],
  ["search", "searchTitle", false],
  ["reports", "reports", false],
  ["teams", "teams", true],
  ["canned", "cannedList", true],
  ["users", "users", true],
  ["audit", "audit", true],
  ["privacy", "privacy", true],
  ["webhooks", "webhooks", true],
  ["bots", "bots", true],
  ["account", "account", false],
];
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
  private page: Page = "inbox";
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private refreshSeq = 0;
  private openSeq = 0;
  private readonly early = new EarlyEvents();
  private readonly live = h("div", { class: "sr", "aria-live": "polite" });
  private readonly tablist = h("div", { role: "tablist", class: "tabs" });
  private readonly list = h("ul", { class: "rows" });
  private readonly tabpanel = h("div", { id: "inbox-list", role: "tabpanel" }, this.list);
  private readonly threadPane = h("div", { class: "thread" });
  private readonly agentList = h("ul", { class: "agents" });
  private readonly connection = h("p", { class: "connection", role: "status" });
  private readonly main = h("main", { id: "main" });
  private readonly help = h("dialog", { class: "help", "aria-labelledby": "help-title" });

  constructor(private readonly root: HTMLElement) {
    document.body.append(this.live, this.help);
    document.addEventListener("keydown", (event) => this.onShortcut(event));
    window.addEventListener("hashchange", () => this.showPage(this.pageFromHash(), true));
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
        if ("Notification" in window && Notification.permission === "granted") {
          // No visitor data in the notification: it may end up in the OS notification centre.
          new Notification(this.t("newConversation"), { tag: conversation.id });
        }
        this.scheduleRefresh();
      },
      message: (message) => {
        this.early.message(message);
        if (this.thread?.id === message.conversation_id) this.thread.received(message);
        else if (message.sender === "visitor") {
          const label = this.rows.find((r) => r.id === message.conversation_id)?.label ?? this.t("visitor");
          this.announce(this.t("newMessageFrom", { name: label }));
        }
        this.scheduleRefresh();
      },
      typing: (conversationId, typing) => {
        this.early.typing(conversationId, typing);
        if (this.thread?.id === conversationId) this.thread.setTyping(typing);
      },
      updated: (conversation) => {
        if (this.thread?.id === conversation.id) this.thread.update(conversation);
        this.scheduleRefresh();
      },
      presence: (userId, online) => {
        const agent = this.agents.get(userId);
        if (agent) {
          agent.online = online;
          this.renderAgents();
        } else void this.loadAgents();
      },
    });
    this.socket = socket;
  }

  // --- the shell and its pages ------------------------------------------------------------------

  private pageFromHash(): Page {
    const name = location.hash.slice(1);
    const page = PAGES.find(([p, , admin]) => p === name && (!admin || this.user?.role === "admin"));
    return page ? page[0] : "inbox";
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
    const logout = h("button", { type: "button" }, t("logout"));
    logout.addEventListener("click", () => void this.logout());
    const nav = h(
      "nav",
      { "aria-label": t("mainNav") },
      h(
        "ul",
        {},
        PAGES.filter(([, , admin]) => !admin || user.role === "admin").map(([page, key]) =>
          h("li", {}, h("a", { href: `#${page}`, "data-page": page }, t(key))),
        ),
      ),
    );
    patch(
      this.root,
      h(
        "header",
        { class: "top" },
        h("p", { class: "brand" }, t("appName")),
        nav,
        h("p", { class: "me" }, user.display_name || user.email),
        h("p", { class: "lang" }, h("label", { for: "lang" }, t("language")), " ", language),
        logout,
      ),
      this.connection,
      this.main,
    );
    this.showPage(this.pageFromHash(), false);
  }

  private showPage(page: Page, focus: boolean): void {
    if (!this.user || this.user.must_change_password) return;
    this.page = page;
    const t = this.t;
    for (const link of this.root.querySelectorAll<HTMLAnchorElement>("nav a")) {
      if (link.dataset.page === page) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    let content: HTMLElement;
    if (page === "users") content = usersPage(t, this.user);
    else if (page === "search") content = searchPage(t, this.lang, this.colleagues, (id) => this.openFromPage(id));
    else if (page === "reports") content = reportsPage(t, this.lang);
    else if (page === "teams") content = teamsPage(t);
    else if (page === "canned") content = cannedPage(t, () => void this.loadCanned());
    else if (page === "audit") content = auditPage(t, this.lang);
    else if (page === "privacy") content = privacyPage(t, this.lang);
    else if (page === "webhooks") content = webhooksPage(t, this.lang);
    else if (page === "bots") content = botsPage(t);
    else if (page === "account")
      content = h(
        "section",
        { class: "page", "aria-labelledby": "account-title" },
        h("h1", { id: "account-title", tabindex: "-1" }, t("account")),
        h("p", {}, this.user.email),
        passwordForm(t, false, () => undefined),
        secondFactorSection(t, this.user, () => void this.refreshUser()),
        sessionsSection(t, () => {
          this.socket?.disconnect();
          this.socket = undefined;
          this.showLogin(this.t("signedOut"));
        }),
      );
    else content = this.inboxPage();
    patch(this.main, content);
    this.setTitle();
    if (focus) content.querySelector<HTMLElement>("h1")?.focus();
  }

  private inboxPage(): HTMLElement {
    const t = this.t;
    this.renderList();
    this.renderAgents();
    if (!this.thread) patch(this.threadPane, h("p", { class: "placeholder" }, t("pickConversation")));
    return h(
      "div",
      { class: "inbox" },
      h(
        "section",
        { class: "list", "aria-labelledby": "inbox-title" },
        h("div", { class: "list-head" }, h("h1", { id: "inbox-title", tabindex: "-1" }, t("inbox")), this.notifyControl()),
        this.tablist,
        this.tabpanel,
      ),
      this.threadPane,
      h(
        "aside",
        { class: "side", "aria-labelledby": "agents-title" },
        h("h2", { id: "agents-title" }, t("agents")),
        this.agentList,
        h("p", { class: "hint" }, h("kbd", {}, "?"), " ", t("shortcuts")),
      ),
    );
  }

  private notifyControl(): HTMLElement | null {
    if (!("Notification" in window)) return null;
    if (Notification.permission === "granted") return h("span", { class: "hint" }, this.t("notifyEnabled"));
    if (Notification.permission === "denied") return h("span", { class: "hint" }, this.t("notifyBlocked"));
    const button = h("button", { type: "button" }, this.t("notifyOn"));
    button.addEventListener("click", async () => {
      await Notification.requestPermission();
      button.replaceWith(this.notifyControl() ?? "");
    });
    return button;
  }

  private switchLanguage(lang: Lang): void {
    this.lang = lang;
    this.t = translator(lang);
    rememberLang(lang);
    document.documentElement.lang = lang;
    const open = this.thread?.id;
    this.thread = undefined;
    this.renderShell();
    if (open) void this.select(open, "none");
    this.root.querySelector<HTMLSelectElement>("#lang")?.focus();
  }

  private setTitle(): void {
    const name = PAGES.find(([p]) => p === this.page)?.[1] ?? "inbox";
    const badge = this.counts?.unread ? `(${this.counts.unread}) ` : "";
    document.title = `${badge}${this.t(name)} – ${this.t("appName")}`;
  }

  private announce(text: string): void {
    this.live.textContent = "";
    this.live.textContent = text;
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

  private renderAgents(): void {
    const me = this.user?.id;
    const agents = [...this.agents.values()].sort(
      (a, b) => Number(b.online) - Number(a.online) || a.display_name.localeCompare(b.display_name),
    );
    patch(
      this.agentList,
      agents.map((a) =>
        h(
          "li",
          { class: a.online ? "on" : "off" },
          h("span", { class: "dot", "aria-hidden": "true" }),
          a.display_name + (a.id === me ? ` (${this.t("you")})` : ""),
          h("span", { class: "state" }, ` – ${a.online ? this.t("online") : this.t("offlineAgent")}`),
        ),
      ),
    );
  }

  private renderList(): void {
    if (!this.user) return;
    renderTabs(this.tablist, this.t, this.view, this.counts, (view, focus) => this.chooseView(view, focus));
    this.tabpanel.setAttribute("aria-labelledby", `tab-${this.view}`);
    renderRows(this.list, this.t, this.rows, this.thread?.id, this.user.id, this.agentName, (id) => {
      void this.select(id, "heading");
    });
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

  private async select(id: string, focus: "heading" | "row" | "none"): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    const seq = ++this.openSeq;
    this.early.startOpening(id);
    try {
      const { conversation, messages } = await socket.open(id);
      if (seq !== this.openSeq) return;
      this.thread?.dispose();
      const label = this.rows.find((r) => r.id === id)?.label ?? this.t("visitor");
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
      ));
      patch(this.threadPane, thread.element);
      this.early.ready(thread);
      this.renderList();
      if (focus === "heading") thread.heading.focus();
      else if (focus === "row") this.list.querySelector<HTMLElement>(`[data-conversation="${CSS.escape(id)}"]`)?.focus();
      await thread.markRead();
      this.scheduleRefresh();
    } catch (err) {
      this.announce(this.t("error", { message: err instanceof Error ? err.message : String(err) }));
    }
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
      if (next) void this.select(next.id, "row");
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
