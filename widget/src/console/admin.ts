/** Admin pages: accounts, canned responses and the audit log, all over the REST API. */
import { api, type AuditEvent, type Canned, type User } from "./api";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { absolute } from "./time";

function failure(t: Translate, notice: Notice) {
  return (err: unknown): void => {
    notice.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));
  };
}

function labelled(
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: HTMLElement,
): HTMLElement {
  control.id ||= uid("f");
  return h("p", { class: "field" }, h("label", { for: control.id }, label), control, hint);
}

function roleSelect(t: Translate, value: string, label?: string): HTMLSelectElement {
  return h(
    "select",
    label ? { "aria-label": label } : {},
    h("option", { value: "agent", selected: value === "agent" }, t("roleAgent")),
    h("option", { value: "admin", selected: value === "admin" }, t("roleAdmin")),
  );
}

export function usersPage(t: Translate, me: User): HTMLElement {
  const status = new Notice();
  // Good news, not an error: the one-time password is announced politely and styled as a success.
  const secret = h("p", { class: "secret", role: "status" });
  const body = h("tbody");
  const fail = failure(t, status);
  const showSecret = (email: string, password: string): void => {
    secret.textContent = t("tempPassword", { email, password });
  };

  const row = (user: User): HTMLElement => {
    const name = user.display_name || user.email;
    const role = roleSelect(t, user.role, `${t("role")}: ${name}`);
    role.disabled = user.id === me.id;
    role.addEventListener("change", () => {
      api.updateUser(user.id, { role: role.value as User["role"] }).then(() => {
        status.success(t("saved"));
        void load();
      }, fail);
    });
    const toggle = h(
      "button",
      { type: "button", "aria-label": `${user.disabled ? t("enable") : t("disable")}: ${name}`, "data-key": `t${user.id}` },
      user.disabled ? t("enable") : t("disable"),
    );
    toggle.disabled = user.id === me.id;
    toggle.addEventListener("click", () => {
      api.updateUser(user.id, { disabled: !user.disabled }).then(() => {
        status.success(t("saved"));
        void load();
      }, fail);
    });
    const reset = h("button", { type: "button", "aria-label": `${t("resetPassword")}: ${name}` }, t("resetPassword"));
    reset.addEventListener("click", () => {
      api.resetPassword(user.id).then(({ temporary_password }) => showSecret(user.email, temporary_password), fail);
    });
    return h(
      "tr",
      {},
      h("td", {}, user.email),
      h("td", {}, user.display_name ?? ""),
      h("td", {}, role),
      h("td", {}, user.disabled ? t("disabled") : t("active")),
      h("td", { class: "actions" }, toggle, " ", reset),
    );
  };

  const load = async (): Promise<void> => {
    try {
      const { users } = await api.users();
      patch(body, users.map(row));
    } catch (err) {
      fail(err);
    }
  };

  const email = h("input", { type: "email", required: true, autocomplete: "off" });
  const displayName = h("input", { type: "text", maxlength: "200", autocomplete: "off" });
  const newRole = roleSelect(t, "agent");
  const form = h(
    "form",
    { class: "card inline", "aria-labelledby": "create-user" },
    h("h2", { id: "create-user" }, t("createUser")),
    labelled(t("email"), email),
    labelled(t("displayName"), displayName),
    labelled(t("role"), newRole),
    h("button", { type: "submit", class: "primary" }, t("create")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    api.createUser(email.value, newRole.value, displayName.value.trim() || undefined).then(({ user, temporary_password }) => {
      showSecret(user.email, temporary_password);
      form.reset();
      void load();
    }, fail);
  });
  void load();
  return h(
    "section",
    { class: "page", "aria-labelledby": "users-title" },
    h("h1", { id: "users-title", tabindex: "-1" }, t("users")),
    form,
    secret,
    status.element,
    h(
      "table",
      {},
      h("caption", { class: "sr" }, t("users")),
      h(
        "thead",
        {},
        h("tr", {}, [t("email"), t("displayName"), t("role"), t("status"), t("actions")].map((c) => h("th", { scope: "col" }, c))),
      ),
      body,
    ),
  );
}

export function cannedPage(t: Translate, changed: () => void): HTMLElement {
  const status = new Notice();
  const list = h("tbody");
  const fail = failure(t, status);
  let editing: string | undefined;

  // Browsers compile `pattern` with the `v` flag, where a `-` in a class must be escaped.
  const shortcutHint = h("span", { id: uid("hint"), class: "hint" }, t("shortcutHint"));
  const shortcut = h("input", {
    type: "text",
    required: true,
    pattern: "[a-z0-9][a-z0-9_\\-]{0,31}",
    maxlength: "32",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": shortcutHint.id,
  });
  const title = h("input", { type: "text", required: true, maxlength: "100", autocomplete: "off" });
  const text = h("textarea", { required: true, rows: "3", maxlength: "4000" });
  const submit = h("button", { type: "submit", class: "primary" }, t("add"));
  const cancel = h("button", { type: "button", hidden: true }, t("cancel"));
  const heading = h("h2", { id: "canned-form" }, t("add"));
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "canned-form" },
    heading,
    labelled(t("shortcut"), shortcut, shortcutHint),
    labelled(t("title"), title),
    labelled(t("text"), text),
    submit,
    " ",
    cancel,
  );
  const edit = (item?: Canned): void => {
    editing = item?.id;
    shortcut.value = item?.shortcut ?? "";
    title.value = item?.title ?? "";
    text.value = item?.text ?? "";
    heading.textContent = submit.textContent = item ? t("save") : t("add");
    cancel.hidden = !item;
    if (item) shortcut.focus();
  };
  cancel.addEventListener("click", () => edit());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    api.saveCanned({ shortcut: shortcut.value, title: title.value, text: text.value }, editing).then(() => {
      status.success(t("saved"));
      edit();
      changed();
      void load();
    }, fail);
  });

  const load = async (): Promise<void> => {
    try {
      const { canned } = await api.canned();
      patch(
        list,
        canned.map((item) => {
          const editButton = h("button", { type: "button", "aria-label": `${t("edit")}: /${item.shortcut}` }, t("edit"));
          editButton.addEventListener("click", () => edit(item));
          const remove = h("button", { type: "button", "aria-label": `${t("delete")}: /${item.shortcut}` }, t("delete"));
          remove.addEventListener("click", () => {
            api.deleteCanned(item.id).then(() => {
              status.success(t("deleted"));
              changed();
              void load();
            }, fail);
          });
          return h(
            "tr",
            {},
            h("td", {}, h("code", {}, "/" + item.shortcut)),
            h("td", {}, item.title),
            h("td", { class: "pre" }, item.text),
            h("td", { class: "actions" }, editButton, " ", remove),
          );
        }),
      );
    } catch (err) {
      fail(err);
    }
  };
  void load();
  return h(
    "section",
    { class: "page", "aria-labelledby": "canned-title" },
    h("h1", { id: "canned-title", tabindex: "-1" }, t("cannedList")),
    form,
    status.element,
    h(
      "table",
      {},
      h("caption", { class: "sr" }, t("cannedList")),
      h("thead", {}, h("tr", {}, [t("shortcut"), t("title"), t("text"), t("actions")].map((c) => h("th", { scope: "col" }, c)))),
      list,
    ),
  );
}

export function auditPage(t: Translate, lang: string): HTMLElement {
  const status = new Notice();
  const body = h("tbody");
  const newest = h("button", { type: "button" }, t("newest"));
  const older = h("button", { type: "button" }, t("older"));
  const names = new Map<string, string>();
  let oldest: number | undefined;

  const row = (e: AuditEvent): HTMLElement =>
    h(
      "tr",
      {},
      h("td", {}, String(e.seq)),
      h("td", {}, h("time", { datetime: e.at }, absolute(e.at, lang))),
      h("td", {}, e.actor_id ? (names.get(e.actor_id) ?? e.actor_id) : ""),
      h("td", {}, h("code", {}, e.action)),
      h("td", {}, [e.target_type, e.target_id].filter(Boolean).join(" ")),
      h("td", { class: "pre" }, e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : ""),
    );

  const load = async (before?: number): Promise<void> => {
    try {
      if (!names.size) {
        for (const user of (await api.users()).users) names.set(user.id, user.email);
      }
      const { events } = await api.audit(before);
      oldest = events.length ? events[events.length - 1].seq : undefined;
      older.disabled = oldest === undefined || oldest <= 1;
      patch(body, events.length ? events.map(row) : h("tr", {}, h("td", { colspan: "6" }, t("noEvents"))));
    } catch (err) {
      status.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));
    }
  };
  newest.addEventListener("click", () => void load());
  older.addEventListener("click", () => void load(oldest));
  void load();
  return h(
    "section",
    { class: "page", "aria-labelledby": "audit-title" },
    h("h1", { id: "audit-title", tabindex: "-1" }, t("audit")),
    h("p", { class: "toolbar" }, newest, " ", older),
    status.element,
    h(
      "table",
      {},
      h("caption", { class: "sr" }, t("audit")),
      h(
        "thead",
        {},
        h("tr", {}, ["#", t("when"), t("who"), t("action"), t("target"), t("extra")].map((c) => h("th", { scope: "col" }, c))),
      ),
      body,
    ),
  );
}
