/** The console's REST calls: JSON in and out, the CSRF header on every state-changing request. */

export interface User {
  id: string;
  email: string;
  role: "agent" | "admin";
  display_name: string | null;
  disabled: boolean;
  must_change_password: boolean;
  second_factor?: boolean;
}

/** One of my sessions as the server lists it: no address, a coarse browser family only. */
export interface SessionInfo {
  id: string;
  created_at: string;
  last_seen_at: string;
  client: string;
  current: boolean;
}

export interface Canned {
  id: string;
  shortcut: string;
  title: string;
  text: string;
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: Record<string, unknown> | null;
}

/** A conversation as a privacy search shows it: ids, times and state, nothing the visitor wrote. */
export interface SubjectConversation {
  id: string;
  status: string;
  offline: boolean;
  created_at: string;
  last_activity_at: string;
  closed_at: string | null;
  message_count: number;
  pseudonymised: boolean;
}

/** A JSON file the server sent as an attachment, ready to hand to the browser's download. */
export interface JsonFile {
  filename: string;
  blob: Blob;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)chat_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

export async function failed(response: Response): Promise<ApiError> {
  const data = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  return new ApiError(
    response.status,
    String(data.code ?? "http_" + response.status),
    String(data.message ?? response.statusText),
    (data.details as Record<string, unknown>) ?? {},
  );
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body);
  if (!response.ok) throw await failed(response);
  return (await response.json().catch(() => ({}))) as T;
}

/** POST for an attachment: the body is kept as it came, named as the server's Content-Disposition says. */
async function postForFile(path: string, body: unknown, fallback: string): Promise<JsonFile> {
  const response = await send("POST", path, body);
  if (!response.ok) throw await failed(response);
  const named = /filename="([A-Za-z0-9._-]+)"/.exec(response.headers.get("Content-Disposition") ?? "");
  return { filename: named ? named[1] : fallback, blob: await response.blob() };
}

export const api = {
  session: () => request<{ user: User; second_factor_setup_required?: boolean }>("GET", "/api/session"),
  login: (email: string, password: string) =>
    request<{ user?: User; second_factor_required?: boolean; csrf_token: string }>("POST", "/api/session", {
      email,
      password,
    }),
  secondFactor: (code: string) =>
    request<{ user: User; csrf_token: string }>("POST", "/api/session/second-factor", { code }),
  sessions: () => request<{ sessions: SessionInfo[] }>("GET", "/api/sessions"),
  endSession: (id: string) => request<unknown>("DELETE", `/api/sessions/${encodeURIComponent(id)}`),
  endAllSessions: () => request<unknown>("DELETE", "/api/sessions"),
  enrolSecondFactor: () => request<{ secret: string; otpauth_uri: string }>("POST", "/api/second-factor/enrol"),
  confirmSecondFactor: (code: string) =>
    request<{ recovery_codes: string[] }>("POST", "/api/second-factor/confirm", { code }),
  disableSecondFactor: (password: string) => request<unknown>("DELETE", "/api/second-factor", { password }),
  logout: () => request<unknown>("DELETE", "/api/session"),
  changePassword: (current_password: string, new_password: string) =>
    request<unknown>("POST", "/api/password", { current_password, new_password }),
  users: () => request<{ users: User[] }>("GET", "/api/users"),
  createUser: (email: string, role: string, display_name?: string) =>
    request<{ user: User; temporary_password: string }>("POST", "/api/users", {
      email,
      role,
      ...(display_name ? { display_name } : {}),
    }),
  updateUser: (id: string, changes: Partial<Pick<User, "role" | "disabled" | "display_name">>) =>
    request<{ user: User }>("PATCH", `/api/users/${encodeURIComponent(id)}`, changes),
  resetPassword: (id: string) =>
    request<{ temporary_password: string }>("POST", `/api/users/${encodeURIComponent(id)}/reset-password`),
  canned: () => request<{ canned: Canned[] }>("GET", "/api/canned"),
  saveCanned: (item: Omit<Canned, "id">, id?: string) =>
    id
      ? request<{ canned: Canned }>("PUT", `/api/canned/${encodeURIComponent(id)}`, item)
      : request<{ canned: Canned }>("POST", "/api/canned", item),
  deleteCanned: (id: string) => request<unknown>("DELETE", `/api/canned/${encodeURIComponent(id)}`),
  findSubject: (query: { email: string } | { conversation_id: string }) =>
    request<{ conversations: SubjectConversation[] }>("POST", "/api/privacy/find", query),
  exportSubject: (conversation_ids: string[]) =>
    postForFile("/api/privacy/export", { conversation_ids }, "export.json"),
  eraseSubject: (conversation_ids: string[]) =>
    request<{ erased: number }>("POST", "/api/privacy/erase", { conversation_ids, confirm: "ERASE" }),
  breachReport: (from: string, to: string) => postForFile("/api/privacy/breach-report", { from, to }, "breach-report.json"),
  audit: (before?: number) =>
    request<{ events: AuditEvent[] }>("GET", `/api/audit?limit=50${before !== undefined ? `&before=${before}` : ""}`),
};
