/** The webhooks page (admins): endpoints, their secret shown once, test events, the deliveries log. */
import { request } from "./api";
import { h, patch, uid } from "./dom";
import type { Translate } from "./strings";
import { absolute } from "./time";

export interface Endpoint {
  id: string;
  url: string;
  region: string;
  events: string[];
  fields: string[];
  enabled: boolean;
  disabled_reason: string | null;
  description: string;
}

export interface DeliveryRow {
  id: string;
  event_type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  created_at: string;
  next_attempt_at: string | null;
  response_code: number | null;
  error: string | null;
}

const EVENTS = [
  "conversation.created",
  "message.created",
  "conversation.assigned",
  "conversation.status_changed",
  "conversation.handed_over",
  "privacy.erased",
];
const FIELDS = ["message.text", "visitor.name", "visitor.email", "visitor.page_url", "visitor.language"];

const path = (id: string, rest = ""): string => `/api/webhooks/${encodeURIComponent(id)}${rest}`;
const webhooksApi = {
  list: () => request<{ endpoints: Endpoint[] }>("GET", "/api/webhooks"),
  create: (body: { url: string; region: string; events: string[]; fields: string[] }) =>
    request<{ endpoint: Endpoint; secret: string }>("POST", "/api/webhooks", body),
  setEnabled: (id: string, enabled: boolean) => request<{ endpoint: Endpoint }>("PATCH", path(id), { enabled }),
  remove: (id: string) => request<unknown>("DELETE", path(id)),
  test: (id: string) => request<unknown>("POST", path(id, "/test")),
  rotate: (id: string) => request<{ secret: string }>("POST", path(id, "/rotate-secret")),
  deliveries: (id: string) => request<{ deliveries: DeliveryRow[] }>("GET", path(id, "/deliveries")),
  redeliver: (id: string, delivery: string) =>
    request<unknown>("POST", path(id, `/deliveries/${encodeURIComponent(delivery)}/redeliver`)),
};

function checkboxes(name: string, legend: string, options: string[]): [HTMLFieldSetElement, () => string[]] {
  const boxes = options.map((value) => h("input", { type: "checkbox", name, value, id: uid(name) }));
  const set = h(
    "fieldset",
    { class: "field" },
    h("legend", {}, legend),
    boxes.map((box) => h("label", { for: box.id, class: "check" }, box, " ", h("code", {}, box.value))),
  );
  return [set, () => boxes.filter((b) => b.checked).map((b) => b.value)];
}

export function webhooksPage(t: Translate, lang: string): HTMLElement {
  const status = h("p", { class: "status", role: "status" });
  const fail = (err: unknown): void => {
    status.textContent = t("error", { message: err instanceof Error ? err.message : String(err) });
  };
  const secretBox = h("div", { class: "card", hidden: true });
  const showSecret = (secret: string): void => {
    secretBox.hidden = false;
    patch(secretBox, h("p", {}, t("webhookSecretOnce")), h("p", {}, h("code", { class: "secret" }, secret)));
  };

  // --- the endpoints ---------------------------------------------------------------------------
  const rows = h("tbody");
  const log = h("section", { class: "card", hidden: true, "aria-labelledby": "deliveries-title" });
  const load = async (): Promise<void> => {
    const { endpoints } = await webhooksApi.list();
    patch(
      rows,
      endpoints.length
        ? endpoints.map((e) => endpointRow(e))
        : h("tr", {}, h("td", { colspan: "4" }, t("webhooksNone"))),
    );
  };
  const act = (work: Promise<unknown>, done: string): void => {
    work.then(async () => {
      await load();
      status.textContent = done;
    }, fail);
  };
  const showLog = async (endpoint: Endpoint): Promise<void> => {
    const { deliveries } = await webhooksApi.deliveries(endpoint.id);
    log.hidden = false;
    patch(
      log,
      h("h2", { id: "deliveries-title" }, t("webhookDeliveries", { url: endpoint.url })),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [t("webhookEvent"), t("startedAt"), t("status"), t("webhookAttempts"), t("webhookNext"), t("webhookResponse"), ""].map(
              (c) => h("th", { scope: "col" }, c),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          deliveries.map((d) =>
            h(
              "tr",
              {},
              h("td", {}, h("code", {}, d.event_type)),
              h("td", {}, h("time", { datetime: d.created_at }, absolute(d.created_at, lang))),
              h("td", {}, t(d.status === "delivered" ? "webhookDelivered" : d.status === "failed" ? "webhookFailed" : "webhookPending")),
              h("td", {}, String(d.attempts)),
              h("td", {}, d.next_attempt_at ? h("time", { datetime: d.next_attempt_at }, absolute(d.next_attempt_at, lang)) : "–"),
              h("td", {}, d.response_code !== null ? String(d.response_code) : d.error ?? "–"),
              h(
                "td",
                {},
                d.status === "pending"
                  ? ""
                  : h(
                      "button",
                      {
                        type: "button",
                        "aria-label": t("webhookRedeliverOf", { id: d.id }),
                        onclick: () =>
                          act(
                            webhooksApi.redeliver(endpoint.id, d.id).then(() => showLog(endpoint)),
                            t("webhookQueued"),
                          ),
                      },
                      t("webhookRedeliver"),
                    ),
              ),
            ),
          ),
        ),
      ),
    );
  };
  const endpointRow = (e: Endpoint): HTMLElement =>
    h(
      "tr",
      {},
      h("td", {}, h("code", {}, e.url), " ", h("span", { class: "hint" }, e.region)),
      h("td", {}, e.events.join(", ")),
      h("td", {}, e.enabled ? t("webhookEnabled") : t("webhookDisabled", { reason: e.disabled_reason ?? "–" })),
      h(
        "td",
        { class: "toolbar" },
        h(
          "button",
          { type: "button", "aria-label": t("webhookTestOf", { url: e.url }), onclick: () => act(webhooksApi.test(e.id), t("webhookQueued")) },
          t("webhookTest"),
        ),
        " ",
        h(
          "button",
          { type: "button", "aria-label": t("webhookLogOf", { url: e.url }), onclick: () => void showLog(e).catch(fail) },
          t("webhookLog"),
        ),
        " ",
        h(
          "button",
          {
            type: "button",
            "aria-label": t("webhookRotateOf", { url: e.url }),
            onclick: () => void webhooksApi.rotate(e.id).then(({ secret }) => showSecret(secret), fail),
          },
          t("webhookRotate"),
        ),
        " ",
        h(
          "button",
          {
            type: "button",
            onclick: () => act(webhooksApi.setEnabled(e.id, !e.enabled), t("saved")),
          },
          e.enabled ? t("webhookDisable") : t("webhookEnable"),
        ),
        " ",
        h(
          "button",
          {
            type: "button",
            class: "danger",
            "aria-label": t("webhookDeleteOf", { url: e.url }),
            onclick: () => act(webhooksApi.remove(e.id), t("webhookDeleted")),
          },
          t("delete"),
        ),
      ),
    );

  // --- a new endpoint --------------------------------------------------------------------------
  const url = h("input", { type: "url", required: true, id: uid("url"), maxlength: "2000", placeholder: "https://" });
  const region = h("input", { type: "text", required: true, id: uid("region"), maxlength: "64", placeholder: "eu-central-1" });
  const [eventsSet, chosenEvents] = checkboxes("events", t("webhookEvents"), EVENTS);
  const [fieldsSet, chosenFields] = checkboxes("fields", t("webhookFields"), FIELDS);
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "webhook-new" },
    h("h2", { id: "webhook-new" }, t("webhookAdd")),
    h("p", { class: "field" }, h("label", { for: url.id }, t("webhookUrl")), url),
    h("p", { class: "field" }, h("label", { for: region.id }, t("webhookRegion")), region),
    eventsSet,
    fieldsSet,
    h("p", { class: "hint" }, t("webhookFieldsHint")),
    h("button", { type: "submit", class: "primary" }, t("webhookAdd")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    webhooksApi
      .create({ url: url.value.trim(), region: region.value.trim(), events: chosenEvents(), fields: chosenFields() })
      .then(async ({ secret }) => {
        form.reset();
        showSecret(secret);
        await load();
        status.textContent = t("saved");
      }, fail);
  });

  load().catch(fail);
  return h(
    "section",
    { class: "page", "aria-labelledby": "webhooks-title" },
    h("h1", { id: "webhooks-title", tabindex: "-1" }, t("webhooks")),
    h("p", { class: "hint" }, t("webhooksIntro")),
    status,
    secretBox,
    h(
      "table",
      {},
      h("caption", { class: "sr" }, t("webhooks")),
      h(
        "thead",
        {},
        h("tr", {}, [t("webhookUrl"), t("webhookEvents"), t("status"), ""].map((c) => h("th", { scope: "col" }, c))),
      ),
      rows,
    ),
    log,
    form,
  );
}
