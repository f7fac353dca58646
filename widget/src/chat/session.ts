/**
 * The visitor's side of the protocol: a lazy Socket.IO connection, the resume token, and an
 * outbox that sends one message at a time and resends unacknowledged ones with the same
 * client_id after a reconnect (the server stores each client_id once).
 */
import { io, type Socket } from "socket.io-client";

export interface ChatMessage {
  id: string;
  sender: "visitor" | "agent";
  client_id: string;
  text: string;
  created_at: string;
}

export interface Profile {
  name?: string;
  email?: string;
  page_url?: string;
  language?: string;
}

interface Outgoing {
  client_id: string;
  text: string;
  profile?: Profile;
  offline?: boolean;
}

interface WireError {
  code: string;
  message: string;
}

type Ack = { ok: boolean; error?: WireError; [field: string]: unknown };

export interface SessionEvents {
  /** A message the server stored: from the agent, or our own (acknowledged or from another tab). */
  stored(message: ChatMessage, live: boolean): void;
  sent(clientId: string): void;
  failed(clientId: string, error: WireError): void;
  typing(on: boolean): void;
  status(status: string): void;
  connection(up: boolean): void;
  /** The conversation is gone (token revoked, expired or forgotten). */
  reset(): void;
}

const ACK_TIMEOUT_MS = 10_000;
const RETRY_MS = 3000;
/** Resume errors that mean the conversation cannot come back. */
const GONE = ["invalid_token", "not_found"];

function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, (c) => ({ "+": "-", "/": "_" })[c] || "");
}

export class ChatSession {
  private socket?: Socket;
  private outbox: Outgoing[] = [];
  private inFlight = false;
  /** Connected, and the stored conversation (if any) resumed on this connection. */
  private ready = false;
  private forgetToken?: string;
  private conversationId?: string;

  constructor(
    private readonly origin: string,
    private readonly site: string,
    private readonly storageKey: string,
    private readonly events: SessionEvents,
    public noticeVersion?: string,
  ) {}

  get token(): string | null {
    try {
      return localStorage.getItem(this.storageKey);
    } catch {
      return null;
    }
  }

  private set token(value: string | null) {
    try {
      if (value) localStorage.setItem(this.storageKey, value);
      else localStorage.removeItem(this.storageKey);
    } catch {
      // storage blocked: the chat still works, it just will not survive a reload
    }
  }

  /** Open the connection (only ever after the visitor wrote, or with a stored token). */
  connect(): void {
    if (this.socket) return;
    const socket = (this.socket = io(this.origin + "/visitor", {
      auth: { site: this.site },
      withCredentials: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 8000,
    }));
    socket.on("connect", () => this.onConnect());
    socket.on("disconnect", (reason) => {
      if (socket !== this.socket) return; // closed on purpose
      this.ready = this.inFlight = false;
      this.events.connection(false);
      // A server shutting down closes us itself, and Socket.IO then leaves reconnecting to us.
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 500 + Math.random() * 1500);
    });
    socket.on("connect_error", () => {
      // Refused by the server (e.g. this site's origin is not allowed): no retry will help.
      if (socket.active) return;
      this.outbox.forEach((m) => this.events.failed(m.client_id, { code: "refused", message: "" }));
      this.outbox = [];
      this.close();
    });
    socket.on("message", (data: { message: ChatMessage }) => this.events.stored(data.message, true));
    socket.on("typing", (data: { typing: boolean }) => this.events.typing(!!data.typing));
    socket.on("conversation_status", (data: { status: string }) => this.events.status(data.status));
  }

  send(text: string, first?: { profile?: Profile; offline?: boolean }): string {
    const client_id = newClientId();
    this.outbox.push({ client_id, text, ...first });
    this.connect();
    this.flush();
    return client_id;
  }

  typing(on: boolean): void {
    if (this.ready && this.conversationId) this.socket?.emit("typing", { typing: on });
  }

  /** "End chat and forget this device": the token leaves this device now, and the server revokes it. */
  forget(): void {
    const token = this.token || this.forgetToken;
    this.token = null;
    this.outbox = [];
    this.events.reset();
    if (!token) return this.close();
    this.forgetToken = token;
    if (this.ready && this.conversationId) this.revoke();
    else this.connect();
  }

  private close(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.ready = this.inFlight = false;
    this.conversationId = undefined;
    socket?.disconnect();
  }

  private revoke(): void {
    this.socket?.timeout(ACK_TIMEOUT_MS).emit("forget", () => {
      this.forgetToken = undefined;
      this.close();
    });
  }

  private onConnect(): void {
    this.events.connection(true);
    const token = this.forgetToken || this.token;
    if (!token) {
      this.ready = true;
      return this.flush();
    }
    this.socket?.timeout(ACK_TIMEOUT_MS).emit("resume", { token }, (err: Error | null, ack: Ack) => {
      if (err) return this.socket?.connected && this.onConnect();
      if (!ack.ok && !GONE.includes(ack.error?.code || "")) {
        // The server could not answer (e.g. its database is briefly away): ask again shortly.
        return void setTimeout(() => this.socket?.connected && this.onConnect(), RETRY_MS);
      }
      if (!ack.ok) {
        // Revoked or expired: what is still unsent starts a new conversation.
        this.token = null;
        this.forgetToken = this.conversationId = undefined;
        this.events.reset();
      } else {
        this.conversationId = ack.conversation_id as string;
        if (this.forgetToken) return this.revoke();
        const history = ack.messages as ChatMessage[];
        const stored = new Set(history.filter((m) => m.sender === "visitor").map((m) => m.client_id));
        this.outbox = this.outbox.filter((m) => !stored.has(m.client_id));
        history.forEach((m) => this.events.stored(m, false));
        this.events.status(ack.status as string);
      }
      this.ready = true;
      this.flush();
    });
  }

  private flush(): void {
    const socket = this.socket;
    const next = this.outbox[0];
    if (!next || !socket?.connected || !this.ready || this.inFlight) return;
    const payload: Record<string, unknown> = { client_id: next.client_id, text: next.text };
    if (!this.conversationId) {
      Object.assign(payload, { site_id: this.site, profile: next.profile, offline: !!next.offline });
      if (this.noticeVersion) payload.notice_version = this.noticeVersion;
    }
    this.inFlight = true;
    socket.timeout(ACK_TIMEOUT_MS).emit("message", payload, (err: Error | null, ack: Ack) => {
      if (socket !== this.socket) return;
      this.inFlight = false;
      // No answer: keep it queued; it goes again on this or the next connection, same client_id.
      if (err) return this.flush();
      this.outbox.shift();
      if (ack.ok) {
        if (ack.token) this.token = ack.token as string;
        this.conversationId = ack.conversation_id as string;
        this.events.stored(ack.message as ChatMessage, true);
      } else {
        this.events.failed(next.client_id, ack.error as WireError);
      }
      this.flush();
    });
    this.events.sent(next.client_id);
  }
}
