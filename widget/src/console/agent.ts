/** The `/agent` Socket.IO connection: typed calls that resolve with the ack or throw its error. */
import { io, type Socket } from "socket.io-client";
import type { FileRef } from "./attachments";

export type View = "waiting" | "mine" | "open" | "closed";

export interface Summary {
  id: string;
  status: "open" | "closed";
  created_at: string;
  last_activity_at: string;
  message_count: number;
  assigned_agent_id: string | null;
  offline: boolean;
  closed_at: string | null;
}

export interface Row extends Summary {
  label: string;
  preview?: { sender: string; text: string; created_at: string };
  unread: number;
}

export interface Message {
  id: string;
  conversation_id: string;
  sender: "visitor" | "agent";
  client_id: string;
  text: string;
  created_at: string;
  agent_id: string | null;
  unreadable?: boolean;
  attachment?: FileRef;
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
  presence(userId: string, online: boolean): void;
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
    socket.on("presence", (d: { user_id: string; online: boolean }) => events.presence(d.user_id, d.online));
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
  open = (id: string) => this.call<{ conversation: Opened; messages: Message[] }>("open", { conversation_id: id });
  reply = (id: string, clientId: string, text: string) =>
    this.call<{ message: Message }>("reply", { conversation_id: id, client_id: clientId, text });
  typing = (id: string, typing: boolean) => this.call<unknown>("typing", { conversation_id: id, typing });
  claim = (id: string, agentId?: string) =>
    this.call<{ conversation: Summary }>("claim", { conversation_id: id, ...(agentId ? { agent_id: agentId } : {}) });
  closeConversation = (id: string) => this.call<{ conversation: Summary }>("close", { conversation_id: id });
  reopen = (id: string) => this.call<{ conversation: Summary }>("reopen", { conversation_id: id });
  read = (id: string, seen: number) => this.call<unknown>("read", { conversation_id: id, seen });
  agents = () => this.call<{ agents: Colleague[] }>("agents");
  canned = () => this.call<{ canned: { id: string; shortcut: string; title: string; text: string }[] }>("canned");
}
