/**
 * The visitor's side of the protocol: a lazy Socket.IO connection, the resume token, and an
 * outbox that sends one message at a time and resends unacknowledged ones with the same
 * client_id after a reconnect (the server stores each client_id once).
 */
import { io, type Socket } from "socket.io-client";
import type { FileRef } from "./attach";

export interface ChatMessage {
  id: string;
  sender: "visitor" | "agent" | "bot";
  /** Absent on the first message of resumed history (it could restart the conversation). */
  client_id?: string;
  text: string;
  created_at: string;
  /** Bot messages only: who answered, and the quick replies offered. */
  bot?: { name: string };
  buttons?: { title: string; payload: string }[];
  attachment?: FileRef;
  /** An agent's first name, when the site shows names. */
  agent?: { name: string };
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
  details?: { retry_after?: unknown };
  retry_after?: unknown;
}

type Ack = { ok: boolean; error?: WireError; [field: string]: unknown };

export interface SessionEvents {
  /** A message the server stored: from the agent, or our own (acknowledged or from another tab). */
  stored(message: ChatMessage, live: boolean): void;
  sent(clientId: string): void;
  /** Back in the queue (the server asked us to wait). */
  queued(clientId: string): void;
  failed(clientId: string, error: WireError): void;
  typing(on: boolean): void;
  /** An agent has read the conversation up to the message stored at `until`. */
  seen(until: string): void;
  /** `handed`: the bot just handed the conversation to people. */
  status(status: string, handed?: boolean): void;
  connection(up: boolean): void;
  /** The conversation is gone (token revoked, expired or forgotten). */
  reset(): void;
  /** The server asked us to wait (too many requests, or busy): sending resumes after `seconds` (0: resumed). */
  paused(seconds: number): void;
}

const ACK_TIMEOUT_MS = 10_000;
const RETRY_MS = 3000;
/** Resume errors that mean the conversation cannot come back. */
const GONE = ["invalid_token", "not_found"];
/** Errors after which the same message goes again, with the same client_id, once `retry_after` has passed. */
const WAIT = ["rate_limited", "unavailable"];
const MAX_WAIT_S = 3600;

/** The seconds to wait before trying again, if the server said so (`details.retry_after`). */
function retryAfter(error: WireError | undefined): number | null {
  if (!error || !WAIT.includes(error.code)) return null;
  const raw = Number(error.details?.retry_after ?? error.retry_after);
  return Number.isFinite(raw) && raw > 0 ? Math.min(Math.ceil(raw), MAX_WAIT_S) : null;
}

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
  private pausedUntil = 0;
  private pauseTimer?: ReturnType<typeof setTimeout>;
  private human = false;

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
    socket.on("connect_error", (err: Error & { data?: WireError }) => {
      if (socket.active) return;
      // Too many connections from this network: the server says when to try again.
      const wait = retryAfter(err.data);
      if (wait !== null) return this.pause(wait, () => this.socket === socket && socket.connect());
      // Refused by the server (e.g. this site's origin is not allowed): no retry will help.
      this.outbox.forEach((m) => this.events.failed(m.client_id, { code: "refused", message: "" }));
      this.outbox = [];
      this.close();
    });
    socket.on("message", (data: { message: ChatMessage }) => this.events.stored(data.message, true));
    socket.on("typing", (data: { typing: boolean }) => this.events.typing(!!data.typing));
    socket.on("seen", (data: { until: string }) => this.events.seen(String(data.until)));
    socket.on("conversation_status", (data: { status: string; handed_over?: boolean }) =>
      this.events.status(data.status, data.handed_over),
    );
    socket.on("conversation_ended", () => {
      // Erased, or forgotten from another tab: the server closes this socket next.
      this.token = null;
      this.outbox = [];
      this.forgetToken = this.conversationId = undefined;
      this.events.reset();
    });
  }

  /** Wait as the server asked, tell the visitor, then go on. */
  private pause(seconds: number, then: () => void): void {
    clearTimeout(this.pauseTimer);
    this.pausedUntil = Date.now() + seconds * 1000;
    this.events.paused(seconds);
    this.pauseTimer = setTimeout(() => {
      this.pausedUntil = 0;
      this.events.paused(0);
      then();
    }, seconds * 1000);
  }

  send(text: string, first?: { profile?: Profile; offline?: boolean }): string {
    const client_id = newClientId();
    this.outbox.push({ client_id, text, ...first });
    this.connect();
    this.flush();
    return client_id;
  }

  rate(rating: number, comment: string): void {
    if (this.ready && this.conversationId) this.socket?.emit("rate", comment ? { rating, comment } : { rating });
  }

  typing(on: boolean): void {
    if (this.ready && this.conversationId) this.socket?.emit("typing", { typing: on });
  }

  /**
   * "Talk to a person": the server's ack `{ok, status}` (rejects when offline or unanswered). Before
   * the first message nothing is sent: the wish goes just ahead of that message, on its connection.
   */
  async handover(): Promise<Ack> {
    if (!this.conversationId && !this.token) {
      this.human = true;
      return { ok: true, status: null };
    }
    return this.socket!.timeout(ACK_TIMEOUT_MS).emitWithAck("handover", {});
  }

  /** E-mail a transcript to `email` (the visitor's own request); `done` hears whether it was queued. */
  transcript(email: string, done: (ok: boolean) => void): void {
    if (!this.ready || !this.conversationId) return done(false);
    this.socket?.timeout(ACK_TIMEOUT_MS).emit("transcript", { email }, (err: Error | null, ack: Ack) => done(!err && ack.ok));
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
    clearTimeout(this.pauseTimer);
    this.pausedUntil = 0;
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
        if (ack.seen_until) this.events.seen(ack.seen_until as string);
        this.events.status(ack.status as string);
      }
      this.ready = true;
      this.flush();
    });
  }

  private flush(): void {
    const socket = this.socket;
    const next = this.outbox[0];
    if (!next || !socket?.connected || !this.ready || this.inFlight || Date.now() < this.pausedUntil) return;
    const payload: Record<string, unknown> = { client_id: next.client_id, text: next.text };
    if (!this.conversationId) {
      if (this.human) socket.emit("handover", {});
      Object.assign(payload, { site_id: this.site, profile: next.profile, offline: !!next.offline });
      if (this.noticeVersion) payload.notice_version = this.noticeVersion;
    }
    this.inFlight = true;
    socket.timeout(ACK_TIMEOUT_MS).emit("message", payload, (err: Error | null, ack: Ack) => {
      if (socket !== this.socket) return;
      this.inFlight = false;
      // No answer: keep it queued; it goes again on this or the next connection, same client_id.
      if (err) return this.flush();
      const wait = ack.ok ? null : retryAfter(ack.error);
      if (wait !== null) {
        // Kept first in line: the same client_id goes again once the server is ready for it.
        this.events.queued(next.client_id);
        return this.pause(wait, () => this.flush());
      }
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
