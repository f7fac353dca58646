/** Sign-in (with its second-factor step), password change, two-factor setup and one's sessions. */
import { api, ApiError, type User } from "./api";
import { h, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { relative } from "./time";

function field(label: string, attrs: Record<string, string | boolean>): [HTMLElement, HTMLInputElement] {
  const id = uid("f");
  const input = h("input", { id, ...attrs });
  return [h("p", { class: "field" }, h("label", { for: id }, label), input), input];
}

export function loginPage(t: Translate, notice: string, signedIn: () => void): HTMLElement {
  const [emailRow, email] = field(t("email"), { type: "email", autocomplete: "username", required: true });
  const [passwordRow, password] = field(t("password"), {
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" }, notice);
  const submit = h("button", { type: "submit", class: "primary" }, t("signIn"));
  const form = h("form", { class: "card", "aria-labelledby": "login-title" }, emailRow, passwordRow, submit, error);
  const main = h("main", { class: "login" }, h("h1", { id: "login-title" }, t("appName")), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const answer = await api.login(email.value, password.value);
      if (answer.second_factor_required) form.replaceWith(codeStep(t, signedIn));
      else signedIn();
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
  return main;
}

/** The second sign-in step: a TOTP code (or a recovery code) for the pending session. */
function codeStep(t: Translate, signedIn: () => void): HTMLElement {
  const [codeRow, code] = field(t("code"), {
    type: "text",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    minlength: "6",
    maxlength: "20",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "primary" }, t("verify"));
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-label": t("twoFactor") }, codeRow, submit, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api.secondFactor(code.value.trim());
      signedIn();
    } catch (err) {
      // A pending session that expired or ran out of tries must start again from the password.
      if (err instanceof ApiError && err.code === "unauthenticated") location.reload();
      error.textContent = t("codeFailed");
      code.value = "";
      code.focus();
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => code.focus());
  return form;
}

/** Turn the TOTP second factor on (secret and recovery codes shown once) or off. */
export function secondFactorSection(t: Translate, user: User, changed: () => void): HTMLElement {
  const body = h("div", {});
  const section = h(
    "section",
    { class: "card", "aria-labelledby": "second-factor-title" },
    h("h2", { id: "second-factor-title" }, t("twoFactor")),
    body,
  );
  const status = h("p", { class: "status", role: "status" });
  const failed = (err: unknown): void => {
    status.textContent = t("error", { message: err instanceof Error ? err.message : String(err) });
  };
  if (user.second_factor) {
    const [passwordRow, password] = field(t("currentPassword"), {
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const form = h("form", {}, passwordRow, h("button", { type: "submit" }, t("twoFactorDisable")), status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api.disableSecondFactor(password.value);
        changed();
      } catch (err) {
        failed(err);
      }
    });
    patch(body, h("p", {}, t("twoFactorOn")), form);
    return section;
  }
  const start = h("button", { type: "button", class: "primary" }, t("twoFactorSetUp"));
  start.addEventListener("click", async () => {
    try {
      const { secret, otpauth_uri } = await api.enrolSecondFactor();
      const [codeRow, code] = field(t("code"), {
        type: "text",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        required: true,
      });
      const confirm = h("form", {}, codeRow, h("button", { type: "submit", class: "primary" }, t("verify")), status);
      confirm.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const { recovery_codes } = await api.confirmSecondFactor(code.value.trim());
          const finish = h("button", { type: "button", class: "primary" }, t("done"));
          finish.addEventListener("click", changed);
          patch(
            body,
            h("p", {}, t("twoFactorOn")),
            h("p", {}, t("recoveryCodes")),
            h("ul", { class: "recovery-codes" }, recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
            finish,
          );
          finish.focus();
        } catch (err) {
          status.textContent = t("codeFailed");
          if (!(err instanceof ApiError)) failed(err);
        }
      });
      patch(
        body,
        h("p", {}, t("twoFactorSecret")),
        h("p", {}, h("code", { class: "totp-secret" }, secret)),
        h("p", {}, t("twoFactorUri")),
        h("p", {}, h("a", { href: otpauth_uri, class: "totp-uri" }, otpauth_uri)),
        h("p", {}, t("twoFactorConfirm")),
        confirm,
      );
      code.focus();
    } catch (err) {
      failed(err);
    }
  });
  patch(body, h("p", {}, t("twoFactorOff")), start, status);
  return section;
}

/** My sessions: when each started and was last used, its browser family; sign one or all out. */
export function sessionsSection(t: Translate, signedOutHere: () => void): HTMLElement {
  const list = h("ul", { class: "sessions" });
  const status = h("p", { class: "status", role: "status" });
  const everywhere = h("button", { type: "button" }, t("signOutEverywhere"));
  everywhere.addEventListener("click", async () => {
    try {
      await api.endAllSessions();
      signedOutHere();
    } catch (err) {
      status.textContent = t("error", { message: err instanceof Error ? err.message : String(err) });
    }
  });
  const load = async (): Promise<void> => {
    try {
      const { sessions } = await api.sessions();
      patch(
        list,
        sessions.map((s) => {
          const end = h("button", { type: "button" }, t("signOutSession"));
          end.addEventListener("click", async () => {
            await api.endSession(s.id).catch(() => undefined);
            await load();
          });
          return h(
            "li",
            {},
            h("strong", {}, s.client),
            " · ",
            t("sessionStarted", { t: relative(s.created_at, t) }),
            " · ",
            t("sessionSeen", { t: relative(s.last_seen_at, t) }),
            " ",
            s.current ? h("em", {}, t("thisSession")) : end,
          );
        }),
      );
    } catch (err) {
      status.textContent = t("error", { message: err instanceof Error ? err.message : String(err) });
    }
  };
  void load();
  return h(
    "section",
    { class: "card", "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, t("sessions")),
    list,
    everywhere,
    status,
  );
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
