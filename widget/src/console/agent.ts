/** The `/agent` Socket.IO connection: typed calls that resolve with the ack or throw its error. */
import { io, type Socket } from "socket.io-client";
import type { FileRef } from "./attachments";

export type View = "bot" | "waiting" | "mine" | "open" | "closed";

export interface Summary {
  id: string;
  /** `bot`: a bot answers; `waiting`: handed over, nobody assigned yet. */
  status: "bot" | "waiting" | "open" | "closed";
  created_at: string;
  last_activity_at: string;
  message_count: number;
  assigned_agent_id: string | null;
  offline: boolean;
  closed_at: string | null;
  labels?: string[];
  visitor_ref?: string;
}

export interface Row extends Summary {
  label: string;
  preview?: { sender: string; agent_id?: string | null; text: string; created_at: string };
  unread: number;
}

export interface Message {
  id: string;
  conversation_id: string;
  sender: "visitor" | "agent" | "bot";
  client_id: string;
  text: string;
  created_at: string;
  agent_id: string | null;
  unreadable?: boolean;
  /** Bot messages: which bot wrote it, and the quick replies it offered. */
  bot?: { name: string; version: string };
  buttons?: { title: string; payload: string }[];
  attachment?: FileRef;
}

/** An internal note: between agents only; the server never sends it to the visitor. */
export interface Note {
  id: string;
  conversation_id: string;
  sender: "note";
  author_id: string;
  text: string;
  created_at: string;
  unreadable?: boolean;
}

export type AgentStatus = "online" | "away" | "offline";

/** A colleague's activity on a conversation this console shows. */
export interface ColleagueActivity {
  conversation_id: string;
  user_id: string;
  viewing: boolean;
  typing: boolean;
  ask?: boolean;
}

export interface Opened extends Summary {
  label?: string;
  visitor: { name?: string; email?: string; page_url?: string; language?: string; user_agent?: string };
  notice_version: string | null;
}

export interface Colleague {
  id: string;
  display_name: string;
  role: string;
  online: boolean;
  status?: AgentStatus;
}

export class AckError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface AgentEvents {
  connected(): void;
  /** Refused (e.g. unauthenticated, password_change_required) or closed by the server. */
  ended(code: string): void;
  lost(): void;
  created(conversation: Summary, message: Message): void;
  message(message: Message): void;
  typing(conversationId: string, typing: boolean): void;
  updated(conversation: Summary): void;
  presence(userId: string, online: boolean, status?: AgentStatus): void;
  note(note: Note): void;
  colleague(activity: ColleagueActivity): void;
}

const ACK_TIMEOUT_MS = 15_000;

export class AgentSocket {
  private readonly socket: Socket;

  constructor(events: AgentEvents) {
    // Same origin: the HttpOnly session cookie goes along with the handshake.
    const socket = (this.socket = io("/agent", { withCredentials: true, reconnectionDelayMax: 8000 }));
    socket.on("connect", () => events.connected());
    socket.on("connect_error", (err: Error & { data?: { code?: string } }) => {
      if (!socket.active) events.ended(err.data?.code ?? "unauthenticated");
    });
    socket.on("disconnect", (reason) => {
      // The server closes a disabled (or reset) account's socket itself; no reconnecting then.
      if (reason === "io server disconnect") events.ended("disconnected");
      else events.lost();
    });
    socket.on("conversation_created", (d: { conversation: Summary; message: Message }) =>
      events.created(d.conversation, d.message),
    );
    socket.on("message", (d: { message: Message }) => events.message(d.message));
    socket.on("typing", (d: { conversation_id: string; typing: boolean }) => events.typing(d.conversation_id, d.typing));
    socket.on("conversation_updated", (d: { conversation: Summary }) => events.updated(d.conversation));
    socket.on("presence", (d: { user_id: string; online: boolean; status?: AgentStatus }) =>
      events.presence(d.user_id, d.online, d.status),
    );
    socket.on("note", (d: { note: Note }) => events.note(d.note));
    socket.on("colleague", (d: ColleagueActivity) => events.colleague(d));
  }

  disconnect(): void {
    this.socket.disconnect();
  }

  async call<T>(event: string, payload: Record<string, unknown> = {}): Promise<T> {
    const ack = (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as {
      ok: boolean;
      error?: { code: string; message: string; details?: Record<string, unknown> };
    };
    if (!ack.ok) {
      const error = ack.error ?? { code: "internal_error", message: "" };
      throw new AckError(error.code, error.message, error.details ?? {});
    }
    return ack as T;
  }

  list = (status: View) => this.call<{ conversations: Row[] }>("list", { status, limit: 200 });
  open = (id: string) =>
    this.call<{ conversation: Opened; messages: Message[]; notes?: Note[] }>("open", { conversation_id: id });
  reply = (id: string, clientId: string, text: string) =>
    this.call<{ message: Message }>("reply", { conversation_id: id, client_id: clientId, text });
  typing = (id: string, typing: boolean, note = false) =>
    this.call<unknown>("typing", { conversation_id: id, typing, ...(note ? { note } : {}) });
  note = (id: string, text: string) => this.call<{ note: Note }>("note", { conversation_id: id, text });
  setLabels = (id: string, labels: string[]) =>
    this.call<{ conversation: Summary }>("labels", { conversation_id: id, labels });
  labelSuggestions = () => this.call<{ labels: string[] }>("label_suggestions");
  earlier = (id: string) => this.call<{ conversations: Summary[] }>("earlier", { conversation_id: id });
  viewing = (id: string | null, answer = false) =>
    this.call<unknown>("viewing", { conversation_id: id, ...(answer ? { answer } : {}) });
  setStatus = (status: AgentStatus) => this.call<{ status: AgentStatus }>("status", { status });
  claim = (id: string, agentId?: string) =>
    this.call<{ conversation: Summary }>("claim", { conversation_id: id, ...(agentId ? { agent_id: agentId } : {}) });
  /** Claiming a conversation a bot is answering takes it over: it becomes mine and the bot stays silent. */
  takeOver = (id: string) => this.call<{ conversation: Summary }>("claim", { conversation_id: id });
  closeConversation = (id: string) => this.call<{ conversation: Summary }>("close", { conversation_id: id });
  reopen = (id: string) => this.call<{ conversation: Summary }>("reopen", { conversation_id: id });
  read = (id: string, seen: number) => this.call<unknown>("read", { conversation_id: id, seen });
  agents = () => this.call<{ agents: Colleague[] }>("agents");
  canned = () => this.call<{ canned: { id: string; shortcut: string; title: string; text: string }[] }>("canned");
}
