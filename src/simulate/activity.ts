/**
 * The traffic model of `events simulate`: users with sessions, each a plausible journey through a shop.
 * Pure and seeded: the same seed gives the same users, sessions and events, in the same order.
 *
 * A session starts with LOGIN (or SIGNUP for a new user), wanders through PAGE_VIEW, VIEW_ITEM and
 * CLICK, sometimes fills a form, adds to the cart and buys, and usually ends with LOGOUT. Many sessions
 * are open at once, interleaved as on a real site.
 */

/** mulberry32: small, fast, good enough for traffic; seeded for reproducible runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX = [..."0123456789abcdef"].map((c) => c.charCodeAt(0));
const uuidChars: number[] = new Array(36);
/**
 * A version-4 UUID from the seeded generator (crypto.randomUUID cannot be seeded). Built from character
 * codes in one go: a string grown one character at a time is a 36-piece rope that every later
 * byteLength and write must flatten first (that was a seventh of the simulator's CPU).
 */
export function seededUuid(r: () => number): string {
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) uuidChars[i] = 45; // -
    else if (i === 14) uuidChars[i] = 52; // 4
    else if (i === 19) uuidChars[i] = HEX[8 + Math.floor(r() * 4)]!;
    else uuidChars[i] = HEX[Math.floor(r() * 16)]!;
  }
  return String.fromCharCode(...uuidChars);
}

export type EventType = "SIGNUP" | "LOGIN" | "PAGE_VIEW" | "VIEW_ITEM" | "CLICK" | "FORM_SUBMIT" | "ADD_TO_CART" | "PURCHASE" | "LOGOUT";

/** What follows each step, with weights: a funnel where most sessions browse and few buy. */
const NEXT: Record<EventType, [EventType | "END", number][]> = {
  SIGNUP: [["PAGE_VIEW", 70], ["FORM_SUBMIT", 30]],
  LOGIN: [["PAGE_VIEW", 80], ["VIEW_ITEM", 20]],
  PAGE_VIEW: [["PAGE_VIEW", 30], ["VIEW_ITEM", 30], ["CLICK", 25], ["FORM_SUBMIT", 3], ["LOGOUT", 7], ["END", 5]],
  VIEW_ITEM: [["CLICK", 30], ["ADD_TO_CART", 20], ["VIEW_ITEM", 25], ["PAGE_VIEW", 20], ["END", 5]],
  CLICK: [["PAGE_VIEW", 45], ["VIEW_ITEM", 35], ["FORM_SUBMIT", 5], ["LOGOUT", 5], ["END", 10]],
  FORM_SUBMIT: [["PAGE_VIEW", 70], ["LOGOUT", 20], ["END", 10]],
  ADD_TO_CART: [["PURCHASE", 35], ["VIEW_ITEM", 40], ["PAGE_VIEW", 20], ["END", 5]],
  PURCHASE: [["PAGE_VIEW", 40], ["LOGOUT", 50], ["END", 10]],
  LOGOUT: [["END", 100]],
};

const DEVICES = [["desktop", 45], ["mobile", 45], ["tablet", 10]] as const;
const AGENTS: Record<string, string[]> = {
  desktop: [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  ],
  mobile: [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
  ],
  tablet: ["Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"],
};
const SOURCES = [["direct", 35], ["search", 30], ["social", 15], ["email", 10], ["ads", 10]] as const;
const REFERRERS: Record<string, string> = {
  direct: "", search: "https://www.search.example/", social: "https://social.example/", email: "https://mail.example/", ads: "https://ads.example/",
};
const CATEGORIES = ["shoes", "shirts", "bags", "watches", "books", "garden", "kitchen", "toys"];
const FORMS = ["newsletter", "contact", "review", "address", "payment"];

interface User {
  id: string;
  device: string;
  agent: string;
  known: boolean; // has signed up before: logs in rather than signs up
}

interface Session {
  user: User;
  id: string;
  source: string;
  last: EventType;
  page: string;
  cart: number;
}

export interface Activity {
  user_id: string;
  event_type: EventType;
  event_id: string;
  metadata: Record<string, string>;
}

function weighted<T>(r: () => number, options: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of options) total += w;
  let x = r() * total;
  for (const [v, w] of options) if ((x -= w) < 0) return v;
  return options[options.length - 1]![0];
}

export class Website {
  private readonly r: () => number;
  private readonly users: User[];
  private readonly open: Session[] = [];
  private readonly concurrent: number;

  constructor(seed: number, users: number) {
    this.r = seededRandom(seed);
    this.users = Array.from({ length: users }, () => {
      const device = weighted(this.r, DEVICES);
      const agents = AGENTS[device]!;
      return { id: seededUuid(this.r), device, agent: agents[Math.floor(this.r() * agents.length)]!, known: this.r() < 0.8 };
    });
    // About one open session per 20 users, as on a site where a few percent of users are online.
    this.concurrent = Math.max(1, Math.min(5000, Math.ceil(users / 20)));
  }

  /** The next action on the site: a step of a random open session (a new session starts as needed). */
  next(): Activity {
    if (this.open.length < this.concurrent) return this.startSession();
    const i = Math.floor(this.r() * this.open.length);
    const s = this.open[i]!;
    const step = weighted(this.r, NEXT[s.last]);
    if (step === "END") {
      this.open[i] = this.open[this.open.length - 1]!;
      this.open.pop();
      return this.startSession();
    }
    return this.emit(s, step);
  }

  private startSession(): Activity {
    const user = this.users[Math.floor(this.r() * this.users.length)]!;
    const s: Session = { user, id: seededUuid(this.r), source: weighted(this.r, SOURCES), last: "LOGIN", page: "/", cart: 0 };
    this.open.push(s);
    const first: EventType = user.known ? "LOGIN" : "SIGNUP";
    user.known = true;
    return this.emit(s, first);
  }

  private emit(s: Session, type: EventType): Activity {
    const referrer = s.page === "/" && s.last === "LOGIN" ? REFERRERS[s.source]! : `https://shop.example${s.page}`;
    const metadata: Record<string, string> = {
      session_id: s.id,
      device: s.user.device,
      user_agent: s.user.agent,
      source: s.source,
      referrer,
    };
    const category = CATEGORIES[Math.floor(this.r() * CATEGORIES.length)]!;
    switch (type) {
      case "SIGNUP":
        s.page = "/signup";
        metadata.plan = this.r() < 0.9 ? "free" : "plus";
        break;
      case "LOGIN":
        s.page = "/login";
        metadata.method = this.r() < 0.7 ? "password" : "sso";
        break;
      case "PAGE_VIEW":
        s.page = this.r() < 0.3 ? "/" : `/c/${category}`;
        break;
      case "VIEW_ITEM":
        s.page = `/p/${category}/${1000 + Math.floor(this.r() * 9000)}`;
        metadata.item_id = s.page.split("/").pop()!;
        metadata.price = (5 + this.r() * 295).toFixed(2);
        break;
      case "CLICK":
        metadata.element = ["nav", "banner", "recommendation", "search", "filter"][Math.floor(this.r() * 5)]!;
        break;
      case "FORM_SUBMIT":
        metadata.form = FORMS[Math.floor(this.r() * FORMS.length)]!;
        break;
      case "ADD_TO_CART":
        s.cart++;
        metadata.quantity = String(1 + Math.floor(this.r() * 3));
        metadata.cart_size = String(s.cart);
        break;
      case "PURCHASE":
        s.page = "/checkout/done";
        metadata.order_id = seededUuid(this.r);
        metadata.items = String(Math.max(1, s.cart));
        metadata.total = (10 + this.r() * 490).toFixed(2);
        s.cart = 0;
        break;
      case "LOGOUT":
        s.page = "/";
        break;
    }
    metadata.page = s.page;
    s.last = type;
    return { user_id: s.user.id, event_type: type, event_id: seededUuid(this.r), metadata };
  }
}

/** Malformed records for dead-letter demos: every kind the pipeline must reject. */
export function malformed(r: () => number, valid: Buffer, validJson: object): Buffer {
  switch (Math.floor(r() * 7)) {
    case 0: return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
    case 1: return valid.subarray(0, Math.max(1, Math.floor(valid.length * r())));
    case 2: return Buffer.from(JSON.stringify({ ...validJson, user_id: "not-a-uuid" }));
    case 3: return Buffer.from(JSON.stringify({ ...validJson, event_time: undefined }));
    case 4: return Buffer.from(JSON.stringify({ ...validJson, metadata: { nested: { deep: true } } }));
    case 5: return Buffer.from(JSON.stringify({ ...validJson, event_time: 32_503_680_000_000 })); // year 3000
    default: return Buffer.from(JSON.stringify({ ...validJson, event_type: 42 }));
  }
}
