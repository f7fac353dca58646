/** Sign-in and password-change forms. */
import { api, ApiError, type User } from "./api";
import { h, uid } from "./dom";
import type { Translate } from "./strings";

function field(label: string, attrs: Record<string, string | boolean>): [HTMLElement, HTMLInputElement] {
  const id = uid("f");
  const input = h("input", { id, ...attrs });
  return [h("p", { class: "field" }, h("label", { for: id }, label), input), input];
}

export function loginPage(t: Translate, notice: string, signedIn: (user: User) => void): HTMLElement {
  const [emailRow, email] = field(t("email"), { type: "email", autocomplete: "username", required: true });
  const [passwordRow, password] = field(t("password"), {
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" }, notice);
  const submit = h("button", { type: "submit", class: "primary" }, t("signIn"));
  const form = h("form", { class: "card", "aria-labelledby": "login-title" }, emailRow, passwordRow, submit, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const { user } = await api.login(email.value, password.value);
      signedIn(user);
    } catch (err) {
      const wait = err instanceof ApiError && err.code === "too_many_attempts" ? Number(err.details.retry_after) : 0;
      error.textContent = wait ? t("tooMany", { n: wait }) : t("loginFailed");
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => email.focus());
  return h("main", { class: "login" }, h("h1", { id: "login-title" }, t("appName")), form);
}

/** Change one's own password; `forced` when the account must change it before anything else. */
export function passwordForm(t: Translate, forced: boolean, done: () => void): HTMLElement {
  const [currentRow, current] = field(t("currentPassword"), {
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const [newRow, fresh] = field(t("newPassword"), {
    type: "password",
    autocomplete: "new-password",
    minlength: "12",
    required: true,
  });
  const [repeatRow, repeat] = field(t("repeatPassword"), {
    type: "password",
    autocomplete: "new-password",
    minlength: "12",
    required: true,
  });
  const status = h("p", { class: "status", role: "status" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, t("changePassword")),
    forced ? h("p", {}, t("mustChange")) : null,
    currentRow,
    newRow,
    repeatRow,
    h("button", { type: "submit", class: "primary" }, t("save")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (fresh.value !== repeat.value) {
      status.textContent = t("passwordsDiffer");
      repeat.focus();
      return;
    }
    try {
      await api.changePassword(current.value, fresh.value);
      form.reset();
      status.textContent = t("passwordChanged");
      done();
    } catch (err) {
      status.textContent = t("error", { message: err instanceof Error ? err.message : String(err) });
    }
  });
  if (forced) queueMicrotask(() => current.focus());
  return form;
}
