/**
 * Opt-in alerts for new waiting conversations: a short tone (made with Web Audio, no file to load)
 * and a desktop notification. Both off until the agent turns them on; the choice of sound is kept
 * in this browser. When the browser refuses notifications the agent is told so, next to the switch.
 */
import { h, patch } from "./dom";
import type { Translate } from "./strings";

const SOUND_KEY = "chat-console:sound";

function remembered(): boolean {
  try {
    return localStorage.getItem(SOUND_KEY) === "on";
  } catch {
    return false;
  }
}

export class Alerts {
  private sound = remembered();
  private audio?: AudioContext;
  readonly element = h("div", { class: "alerts" });
  private feedback = h("p", { class: "hint notify-feedback", role: "status" });

  constructor(private t: Translate) {
    this.render();
  }

  retranslate(t: Translate): void {
    this.t = t;
    this.feedback = h("p", { class: "hint notify-feedback", role: "status" });
    this.render();
  }

  /** A new waiting conversation: ring and notify, as the agent chose. No visitor data is shown. */
  newConversation(tag: string): void {
    if (this.sound) this.ring();
    if ("Notification" in window && Notification.permission === "granted") {
      // No visitor data in it: it may end up in the OS notification centre.
      new Notification(this.t("newConversation"), { tag });
    }
  }

  private ring(): void {
    try {
      this.audio ??= new AudioContext();
      const ctx = this.audio;
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
      tone.connect(gain).connect(ctx.destination);
      tone.start();
      tone.stop(ctx.currentTime + 0.4);
    } catch {
      // no audio output: the visual and screen-reader announcements remain
    }
  }

  private render(): void {
    const t = this.t;
    const sound = h("input", { type: "checkbox", id: "sound-toggle", checked: this.sound });
    sound.addEventListener("change", () => {
      this.sound = sound.checked;
      try {
        localStorage.setItem(SOUND_KEY, this.sound ? "on" : "off");
      } catch {
        // applies to this page only
      }
      if (this.sound) this.ring(); // a user gesture: lets the browser start audio, and a preview
    });
    patch(
      this.element,
      h("span", { class: "switch" }, sound, h("label", { for: "sound-toggle" }, t("sound"))),
      this.notifyControl(),
      this.feedback,
    );
  }

  private notifyControl(): HTMLElement | null {
    const t = this.t;
    if (!("Notification" in window)) return null;
    if (Notification.permission === "granted") return h("span", { class: "hint" }, t("notifyEnabled"));
    if (Notification.permission === "denied") {
      this.feedback.textContent = t("notifyDenied");
      return h("span", { class: "hint" }, t("notifyBlocked"));
    }
    const button = h("button", { type: "button", "data-key": "notify" }, t("notifyOn"));
    button.addEventListener("click", async () => {
      let answer: NotificationPermission = "denied";
      try {
        answer = await Notification.requestPermission();
      } catch {
        // an old browser without the promise form: treated as refused
      }
      // Dismissing the prompt leaves "default": the browser did not allow it either.
      this.feedback.textContent = answer === "granted" ? "" : t("notifyDenied");
      const control = answer === "granted" ? h("span", { class: "hint" }, t("notifyEnabled")) : button;
      if (control !== button) button.replaceWith(control);
    });
    return button;
  }
}
