/** The teams page (admins): which agents see which sites' conversations. */
import { api, request, type User } from "./api";
import { h, Notice, patch, uid } from "./dom";
import type { Translate } from "./strings";

export interface Team {
  id: string;
  name: string;
  agent_ids: string[];
  site_ids: string[];
}

type TeamInput = Omit<Team, "id">;

const teamsApi = {
  list: () => request<{ teams: Team[]; sites: string[] }>("GET", "/api/teams"),
  create: (team: TeamInput) => request<{ team: Team }>("POST", "/api/teams", team),
  update: (id: string, team: TeamInput) => request<{ team: Team }>("PATCH", `/api/teams/${encodeURIComponent(id)}`, team),
  remove: (id: string) => request<unknown>("DELETE", `/api/teams/${encodeURIComponent(id)}`),
};

function checks(legend: string, options: { value: string; label: string }[], chosen: string[]): [HTMLElement, () => string[]] {
  const boxes = options.map((o) => h("input", { type: "checkbox", value: o.value, id: uid("c"), checked: chosen.includes(o.value) }));
  const set = h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, legend),
    boxes.map((box, i) => h("label", { for: box.id }, box, " ", options[i].label)),
  );
  return [set, () => boxes.filter((b) => b.checked).map((b) => b.value)];
}

/** One team's form; a new team has no id. */
function teamForm(
  t: Translate,
  team: Team | undefined,
  agents: User[],
  sites: string[],
  saved: (team: TeamInput, id?: string) => Promise<void>,
  removed?: () => Promise<void>,
): HTMLElement {
  const name = h("input", { type: "text", required: true, maxlength: "80", id: uid("team"), value: team?.name ?? "" });
  const [members, chosenMembers] = checks(
    t("teamMembers"),
    agents.map((a) => ({ value: a.id, label: a.display_name || a.email })),
    team?.agent_ids ?? [],
  );
  const [siteSet, chosenSites] = checks(
    t("teamSites"),
    sites.map((s) => ({ value: s, label: s })),
    team?.site_ids ?? [],
  );
  const title = team ? team.name : t("teamAdd");
  const submit = h(
    "button",
    { type: "submit", class: "primary" },
    team ? t("teamSave", { name: team.name }) : t("teamAdd"),
  );
  const form = h(
    "form",
    { class: "card wide", "aria-label": title, "data-team": team?.id ?? "new" },
    h("h2", {}, title),
    h("p", { class: "field" }, h("label", { for: name.id }, t("teamName")), name),
    members,
    siteSet,
    h("p", { class: "toolbar" }, submit, removed ? h("button", { type: "button", class: "danger", onclick: () => void removed() }, t("teamDelete", { name: team?.name ?? "" })) : null),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void saved({ name: name.value.trim(), agent_ids: chosenMembers(), site_ids: chosenSites() }, team?.id);
  });
  return form;
}

export function teamsPage(t: Translate): HTMLElement {
  const notice = new Notice();
  const intro = h("p", {});
  const forms = h("div", {});
  const fail = (err: unknown): void => notice.failure(t("error", { message: err instanceof Error ? err.message : String(err) }));

  const load = async (): Promise<void> => {
    const [{ teams, sites }, { users }] = await Promise.all([teamsApi.list(), api.users()]);
    const agents = users.filter((u) => !u.disabled && u.role === "agent");
    intro.textContent = teams.length ? t("teamsIntro") : `${t("teamsIntro")} ${t("teamsOpen")}`;
    const saved = async (team: TeamInput, id?: string): Promise<void> => {
      try {
        await (id ? teamsApi.update(id, team) : teamsApi.create(team));
        await load();
        notice.success(t("teamSaved", { name: team.name }));
      } catch (err) {
        fail(err);
      }
    };
    patch(
      forms,
      teams.map((team) =>
        teamForm(t, team, agents, sites, saved, async () => {
          try {
            await teamsApi.remove(team.id);
            await load();
            notice.success(t("teamDeleted", { name: team.name }));
          } catch (err) {
            fail(err);
          }
        }),
      ),
      teamForm(t, undefined, agents, sites, saved),
    );
  };
  load().catch(fail);
  return h(
    "section",
    { class: "page", "aria-labelledby": "teams-title" },
    h("h1", { id: "teams-title", tabindex: "-1" }, t("teams")),
    intro,
    notice.element,
    forms,
  );
}
