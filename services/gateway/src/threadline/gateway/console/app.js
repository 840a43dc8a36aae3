// The operator console: sign in with a token, then the inbox (filters, "needs a human" first,
// live), a conversation (thread with statuses, media, transcripts, flow, the 24-hour window,
// actions), the test chat (write to a number's assistant as a customer would, tapping its
// buttons and list rows) and the metrics (charts over time by assistant and by number). Views
// are chosen by the URL's hash: #/inbox?..., #/conversations/<id>, #/test-chat?..., #/metrics?...

import * as api from "./api.js";
import { chartWithTable, legend } from "./charts.js";

const PATHS = {
  conversations: "/api/v1/conversations",
  conversation: (id) => `/api/v1/conversations/${encodeURIComponent(id)}`,
  messages: (id) => `/api/v1/conversations/${encodeURIComponent(id)}/messages`,
  attachments: (id) => `/api/v1/conversations/${encodeURIComponent(id)}/attachments`,
  files: (id) => `/api/v1/conversations/${encodeURIComponent(id)}/files`,
  handOff: (id) => `/api/v1/conversations/${encodeURIComponent(id)}/hand-off`,
  resume: (id) => `/api/v1/conversations/${encodeURIComponent(id)}/resume`,
  sessionStatus: (customer, number) =>
    `/api/crm/${encodeURIComponent(customer)}/session-status?business_number=${encodeURIComponent(number)}`,
  metrics: "/api/v1/metrics",
  assistants: "/api/v1/assistants",
  testChat: (number) => `/api/v1/test-chat/${encodeURIComponent(number)}/messages`,
  export: "/api/v1/conversations/export",
};
const FILTERS = ["channel", "status", "assistant", "business_number", "customer_phone", "created_from", "created_to"];
const STATUSES = ["", "active", "escalated", "completed", "abandoned"];
const CHANNELS = ["", "whatsapp", "test"];
const STATUS_ORDER = ["queued", "sent", "delivered", "read"];

const state = {
  live: null, // AbortController of the live updates
  view: "",
  conversationId: "",
  refreshInbox: null,
  refreshConversation: null,
  testChatId: "", // the test chat's conversation, once the tester wrote
  refreshTestChat: null,
  countdown: null,
  inboxHash: "", // the inbox with its filters, where a conversation's back link returns
};

// ---------------------------------------------------------------------------- small helpers

function el(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return moment.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

function money(value) {
  return `$${Number(value || 0).toFixed(4)}`;
}

function notice(message) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.hidden = !message;
}

/** Say `message` through the page's live region (screen readers read it once, politely). */
function announce(message) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // A fresh text node on the next frame, so the same words said twice are read twice.
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

/** Announce the messages of `messages` whose ids `seen` lacks (none on the first load). */
function announceNew(messages, seen) {
  if (!seen) return;
  const said = messages
    .filter((message) => !seen.has(message.id))
    .map((message) => {
      const words = message.content || (message.type ? `a ${message.type} message` : "a message");
      const who = { customer: "the customer", ai: "the AI", agent: "an operator", flow: "the flow" }[message.author] || message.author || "someone";
      return `New message from ${who}: ${words}`;
    });
  if (said.length) announce(said.join(" "));
}

function failed(error) {
  if (error instanceof api.ApiError && error.status === 401) {
    api.signOut();
    notice("The token was not accepted: sign in again.");
    route();
    return;
  }
  notice(error.message || String(error));
}

function queryOf(hash) {
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}

function needsHuman(conversation) {
  return Boolean(conversation.ai_paused) || conversation.status === "escalated";
}

function customerOf(conversation) {
  const lead = conversation.lead || {};
  return lead.wa_id || lead.user_id || "";
}

// ---------------------------------------------------------------------------- live updates

function startLive() {
  if (state.live) return;
  state.live = new AbortController();
  const badge = document.getElementById("live-state");
  api.follow(
    (name, data) => {
      if (name === "refused") return failed(new api.ApiError(401, "token refused"));
      if (name === "connected" || name === "overflow") {
        if (state.refreshInbox) state.refreshInbox();
        if (state.refreshConversation) state.refreshConversation();
        if (state.refreshTestChat) state.refreshTestChat();
        return;
      }
      if (name !== "conversation") return;
      if (state.refreshInbox) state.refreshInbox(data.conversation_id);
      if (state.refreshConversation && data.conversation_id === state.conversationId) {
        state.refreshConversation();
      }
      if (state.refreshTestChat && data.conversation_id === state.testChatId) state.refreshTestChat();
    },
    (liveState) => {
      badge.textContent = liveState;
      badge.dataset.state = liveState;
    },
    state.live.signal,
  );
}

function stopLive() {
  if (state.live) state.live.abort();
  state.live = null;
}

// Several events in a burst refetch once.
function debounced(action, wait = 150) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, wait);
  };
}

// ---------------------------------------------------------------------------- inbox

function filterForm(query, onApply) {
  const field = (name, label, control) =>
    el("div", { class: "field" }, el("label", { for: `filter-${name}` }, label), control);
  const select = (name, options) =>
    el(
      "select",
      { id: `filter-${name}`, name },
      options.map((option) => el("option", { value: option, selected: query.get(name) === option }, option || "any")),
    );
  const input = (name, type = "text", extra = {}) =>
    el("input", { id: `filter-${name}`, name, type, value: query.get(name) || "", ...extra });
  const form = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter conversations" },
    field("channel", "Channel", select("channel", CHANNELS)),
    field("status", "Status", select("status", STATUSES)),
    field("assistant", "Assistant", input("assistant")),
    field("business_number", "Business number", input("business_number", "text", { inputmode: "numeric" })),
    field("customer_phone", "Phone", input("customer_phone", "tel")),
    field("created_from", "From", input("created_from", "date")),
    field("created_to", "To", input("created_to", "date")),
    el("div", { class: "field actions" }, el("button", { type: "submit" }, "Apply"), el("button", { type: "reset", class: "quiet" }, "Clear")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) chosen.set(name, value);
    }
    onApply(chosen);
  });
  form.addEventListener("reset", () => setTimeout(() => onApply(new URLSearchParams())));
  return form;
}

function apiQuery(query) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = query.get(name);
    if (value) params.set(name, value);
  }
  return params;
}

async function showInbox(query) {
  const view = document.getElementById("view");
  const list = el("ul", { class: "conversations", "aria-label": "Conversations" });
  const summary = el("p", { class: "summary", role: "status" });
  const exportButton = el("button", { type: "button", id: "export-csv" }, "Export CSV");
  view.replaceChildren(
    el(
      "section",
      { class: "panel", "aria-labelledby": "inbox-title" },
      el("div", { class: "row" }, el("h2", { id: "inbox-title" }, "Inbox"), exportButton),
      filterForm(query, (chosen) => {
        location.hash = `#/inbox?${chosen}`;
      }),
      summary,
      list,
    ),
  );
  exportButton.addEventListener("click", async () => {
    const params = apiQuery(query);
    params.set("format", "csv");
    try {
      await api.download(`${PATHS.export}?${params}`, "conversations.csv");
      notice("");
    } catch (error) {
      failed(error);
    }
  });
  const params = apiQuery(query);
  params.set("size", "100");
  const load = async () => {
    try {
      const answer = await api.get(`${PATHS.conversations}?${params}`);
      const found = api.items(answer, "conversations");
      // "Needs a human" first, then the most recent.
      found.sort((a, b) => needsHuman(b) - needsHuman(a) || String(b.last_message_at || b.updated_at).localeCompare(String(a.last_message_at || a.updated_at)));
      summary.textContent = `${answer.total ?? found.length} conversations`;
      list.replaceChildren(...found.map(inboxRow));
      // Announce what changed since the last load (not the first: that is the page itself).
      if (lastSeen) {
        const said = found
          .filter((conversation) => lastSeen.get(conversation.id) !== (conversation.last_message_at || ""))
          .map((conversation) => {
            const who = (conversation.lead || {}).name || customerOf(conversation) || "a customer";
            return `New message in the conversation with ${who}: ${conversation.last_message_preview || ""}`;
          });
        if (said.length) announce(said.join(" "));
      }
      lastSeen = new Map(found.map((c) => [c.id, c.last_message_at || ""]));
    } catch (error) {
      failed(error);
    }
  };
  let lastSeen = null;
  state.refreshInbox = debounced(load);
  await load();
}

function inboxRow(conversation) {
  const lead = conversation.lead || {};
  const human = needsHuman(conversation);
  return el(
    "li",
    { class: human ? "conversation human" : "conversation", "data-id": conversation.id },
    el(
      "a",
      { href: `#/conversations/${encodeURIComponent(conversation.id)}` },
      el("span", { class: "who" }, lead.name || customerOf(conversation) || conversation.session_key),
      el("span", { class: "phone" }, customerOf(conversation)),
      human ? el("span", { class: "badge alert" }, conversation.ai_paused ? "needs a human" : conversation.status) : null,
      el("span", { class: "badge" }, conversation.status),
      el("span", { class: "badge quiet" }, conversation.channel),
      el("span", { class: "preview" }, conversation.last_message_preview || ""),
      el("time", { datetime: conversation.last_message_at || "" }, when(conversation.last_message_at)),
    ),
  );
}

// ---------------------------------------------------------------------------- conversation

async function showConversation(id) {
  state.conversationId = id;
  const view = document.getElementById("view");
  const header = el("div", { class: "conversation-head" });
  // Focusable: on a laptop the thread scrolls on its own, and a keyboard must reach that too.
  const thread = el("ol", { class: "thread", "aria-label": "Messages", tabindex: 0 });
  const side = el("aside", { class: "side", "aria-label": "Details" });
  const actions = el("section", { class: "actions", "aria-label": "Actions" });
  view.replaceChildren(
    el(
      "section",
      { class: "panel conversation-view", "aria-labelledby": "conversation-title" },
      el("p", { class: "back" }, el("a", { href: state.inboxHash || "#/inbox", id: "back-to-inbox" }, el("span", { "aria-hidden": "true" }, "← "), "Back to inbox")),
      header,
      el("div", { class: "split" }, el("div", { class: "main-column" }, thread, actions), side),
    ),
  );
  let built = false;
  let seen = null; // the messages' ids at the last load: what is new is announced
  const load = async () => {
    try {
      const [conversation, attachmentsAnswer] = await Promise.all([
        api.get(PATHS.conversation(id)),
        api.get(`${PATHS.attachments(id)}?size=100`).catch(() => ({ data: [] })),
      ]);
      const attachments = new Map(api.items(attachmentsAnswer, "attachments").map((a) => [a.message_id, a]));
      const messages = conversation.messages || api.items(await api.get(PATHS.messages(id)), "messages");
      renderHead(header, conversation);
      thread.replaceChildren(...messages.map((message) => messageItem(message, attachments.get(message.id))));
      announceNew(messages, seen);
      seen = new Set(messages.map((message) => message.id));
      const last = thread.lastElementChild;
      if (last) last.scrollIntoView({ block: "nearest" });
      const windowStatus = await renderSide(side, conversation, messages, [...attachments.values()]);
      if (!built) {
        built = true;
        actions.replaceChildren(...replyForms(conversation));
      }
      updateActions(actions, conversation, windowStatus);
    } catch (error) {
      failed(error);
    }
  };
  state.refreshConversation = debounced(load);
  await load();
}

function renderHead(header, conversation) {
  const lead = conversation.lead || {};
  header.replaceChildren(
    el("h2", { id: "conversation-title" }, lead.name || customerOf(conversation) || "Conversation"),
    el(
      "p",
      { class: "meta" },
      el("span", { class: "badge", id: "conversation-status" }, conversation.status),
      conversation.ai_paused ? el("span", { class: "badge alert", id: "ai-state" }, "AI paused — a person answers") : el("span", { class: "badge", id: "ai-state" }, "AI answering"),
      el("span", {}, `${customerOf(conversation)} · number ${conversation.business_number} · ${conversation.channel}`),
      conversation.assistant ? el("span", {}, ` · assistant ${conversation.assistant}`) : null,
    ),
  );
}

function statusLine(message) {
  if (message.role === "user" || message.author === "customer") return null;
  const reason = failureReason(message);
  const reached = STATUS_ORDER.indexOf(message.status);
  const steps = STATUS_ORDER.map((status, index) =>
    el("li", { class: index <= reached ? "done" : "" }, status),
  );
  return el(
    "div",
    { class: `status status-${message.status}`, "data-status": message.status },
    el("span", { class: "visually-hidden" }, `Status: ${message.status}`),
    message.status === "failed" ? el("span", { class: "failed" }, `failed${reason ? `: ${reason}` : ""}`) : el("ol", { class: "steps", "aria-hidden": "true" }, steps),
  );
}

function failureReason(message) {
  const metadata = message.metadata || {};
  const errors = metadata.errors || (metadata.error ? [metadata.error] : []);
  return errors
    .map((error) => [error.code, error.title, error.message, (error.error_data || {}).details].filter(Boolean).join(" — "))
    .join("; ");
}

function usageLine(message) {
  // A reply a model drafted carries its model, tokens and cost in its metadata (analytics).
  const metadata = message.metadata || {};
  const prompt = message.prompt_tokens ?? metadata.prompt_tokens;
  const completion = message.completion_tokens ?? metadata.completion_tokens;
  const cost = message.cost ?? message.llm_cost ?? metadata.llm_cost;
  if (prompt === undefined && completion === undefined && cost === undefined) return null;
  return el("p", { class: "usage" }, `${prompt || 0} + ${completion || 0} tokens · ${money(cost)}`);
}

function interactiveOf(message) {
  const metadata = message.metadata || {};
  return message.interactive || metadata.interactive || null;
}

/** The parts of an interactive message; with `tap(id, title)`, its buttons and list rows are
 * buttons that answer it (the test chat), otherwise they are shown as the customer saw them. */
function renderInteractive(interactive, tap = null) {
  const action = interactive.action || {};
  const body = (interactive.body || {}).text;
  const parts = [];
  if (interactive.header && interactive.header.text) parts.push(el("p", { class: "ia-header" }, interactive.header.text));
  if (body) parts.push(el("p", {}, body));
  if (action.buttons) {
    const option = (button) => {
      const { id = "", title = "" } = button.reply || button;
      return tap ? el("button", { type: "button", class: "ia-button tap", onclick: () => tap(id, title) }, title) : el("span", { class: "ia-button" }, title);
    };
    parts.push(el("div", { class: "ia-buttons" }, action.buttons.map(option)));
  }
  if (action.sections) {
    parts.push(
      el(
        "details",
        { class: "ia-list" },
        el("summary", {}, action.button || "Options"),
        action.sections.map((section) =>
          el("div", {}, section.title ? el("strong", {}, section.title) : null, el("ul", {}, (section.rows || []).map((row) => el("li", {}, listRow(row, tap))))),
        ),
      ),
    );
  }
  if (interactive.footer && interactive.footer.text) parts.push(el("p", { class: "ia-footer" }, interactive.footer.text));
  return parts;
}

function listRow(row, tap) {
  const description = row.description ? el("small", {}, ` — ${row.description}`) : null;
  if (!tap) return [row.title, description];
  return el("button", { type: "button", class: "ia-row tap", onclick: () => tap(row.id || "", row.title || "") }, row.title, description);
}

function messageItem(message, attachment, tap = null) {
  const mine = !(message.role === "user" || message.author === "customer");
  const body = [];
  if (attachment) body.push(attachmentView(attachment));
  const interactive = interactiveOf(message);
  if (interactive) body.push(...renderInteractive(interactive, tap));
  else if (message.content && !(attachment && attachment.caption === message.content)) body.push(el("p", { class: "text" }, message.content));
  if (message.interpretation) body.push(el("p", { class: "note" }, `Saw: ${message.interpretation}`));
  if ((message.citations || []).length) {
    body.push(el("p", { class: "note" }, `Sources: ${message.citations.map((c) => c.document).join(", ")}`));
  }
  return el(
    "li",
    { class: `message ${mine ? "outbound" : "inbound"} author-${message.author}`, "data-id": message.id, "data-type": message.type },
    el("div", { class: "bubble" }, body),
    el(
      "p",
      { class: "meta" },
      el("span", {}, message.author),
      message.type === "template" ? " · template" : null,
      " · ",
      el("time", { datetime: message.created_at || "" }, when(message.created_at)),
    ),
    statusLine(message),
    usageLine(message),
  );
}

function attachmentView(attachment) {
  const box = el("figure", { class: `attachment type-${attachment.type}` });
  const caption = el("figcaption", {}, attachment.caption || attachment.file_name || attachment.type);
  if (!attachment.file) {
    box.append(el("p", { class: "note" }, `${attachment.type} — ${attachment.status}${attachment.failure_reason ? `: ${attachment.failure_reason}` : ""}`), caption);
    return box;
  }
  const placeholder = el("span", { class: "note" }, "loading…");
  box.append(placeholder, caption);
  api
    .blobUrl(attachment.file)
    .then((url) => {
      let media;
      if (attachment.type === "image" || attachment.type === "sticker") media = el("img", { src: url, alt: attachment.caption || attachment.file_name || "image" });
      else if (attachment.type === "audio") media = el("audio", { src: url, controls: true, "aria-label": "voice note" });
      else if (attachment.type === "video") media = el("video", { src: url, controls: true, "aria-label": attachment.caption || "video" });
      else media = el("a", { href: url, download: attachment.file_name || "file" }, `Download ${attachment.file_name || "file"}`);
      placeholder.replaceWith(media);
    })
    .catch(() => placeholder.replaceWith(el("span", { class: "note" }, "file unavailable")));
  const transcript = attachment.transcript;
  if (transcript && transcript.text) box.append(el("blockquote", { class: "transcript" }, el("span", { class: "visually-hidden" }, "Transcript: "), transcript.text));
  else if (transcript && transcript.status && transcript.status !== "recorded") box.append(el("p", { class: "note" }, `No transcript: ${transcript.reason || transcript.status}`));
  return box;
}

async function renderSide(side, conversation, messages, attachments) {
  const flow = conversation.conversation_flow_id
    ? el(
        "section",
        { "aria-labelledby": "flow-title" },
        el("h3", { id: "flow-title" }, "Flow"),
        el("dl", {}, el("dt", {}, "Flow"), el("dd", {}, conversation.conversation_flow_id), el("dt", {}, "Step"), el("dd", {}, conversation.current_step_id || "—"), el("dt", {}, "State"), el("dd", {}, conversation.flow_status || (conversation.is_completed ? "completed" : "running")), conversation.expires_at ? [el("dt", {}, "Expires"), el("dd", {}, when(conversation.expires_at))] : null),
      )
    : null;
  const data = conversation.session_data || {};
  const collected = Object.keys(data).length
    ? el("section", { "aria-labelledby": "data-title" }, el("h3", { id: "data-title" }, "Collected data"), el("dl", {}, Object.entries(data).map(([key, value]) => [el("dt", {}, key), el("dd", {}, typeof value === "string" ? value : JSON.stringify(value))])))
    : null;
  const replies = messages.filter((m) => m.author === "ai").length;
  const usage = el(
    "section",
    { "aria-labelledby": "cost-title" },
    el("h3", { id: "cost-title" }, "Tokens and cost"),
    el("p", { id: "conversation-cost" }, `${conversation.tokens || 0} tokens · ${money(conversation.cost)} in all · ${replies} AI replies`),
  );
  const gallery = attachments.length
    ? el("section", { "aria-labelledby": "gallery-title" }, el("h3", { id: "gallery-title" }, `Attachments (${attachments.length})`), el("ul", { class: "gallery" }, attachments.map((a) => el("li", {}, `${a.direction === "outbound" ? "→" : "←"} ${a.file_name || a.type} (${a.type}, ${Math.ceil((a.size || 0) / 1024)} KB) ${a.status}`))))
    : null;
  const windowBox = el("section", { "aria-labelledby": "window-title", id: "window" }, el("h3", { id: "window-title" }, "24-hour window"));
  side.replaceChildren(...[windowBox, usage, flow, collected, gallery].filter(Boolean));
  return renderWindow(windowBox, conversation);
}

/** The 24-hour window in `box`: its time left, or that it is closed. Answers the session
 * status (seed 000: `window_active`, `templates`), or null when it could not be asked. */
async function renderWindow(box, conversation) {
  clearInterval(state.countdown);
  const customer = customerOf(conversation);
  if (!customer || conversation.channel === "test") {
    box.append(el("p", { class: "note" }, "No window: this conversation is not on WhatsApp."));
    return null;
  }
  let status;
  try {
    status = await api.get(PATHS.sessionStatus(customer, conversation.business_number));
  } catch (error) {
    box.append(el("p", { class: "note" }, `unknown: ${error.message}`));
    return null;
  }
  const left = el("p", { id: "window-left" });
  box.append(left);
  if (status.window_active && status.expires_at) {
    const ends = new Date(status.expires_at).getTime();
    const tick = () => {
      const minutes = Math.max(0, Math.floor((ends - Date.now()) / 60000));
      left.textContent = `Open: ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
    };
    tick();
    state.countdown = setInterval(tick, 30000);
    return status;
  }
  left.textContent = "Closed: only a template can be sent";
  return status;
}

/** A form to send one of the number's templates: its body shown with the parameters filled in
 * as they are typed, a labelled field per parameter ({{1}}, {{2}}, ...). */
function templatePicker(conversation, templates) {
  const select = el("select", { id: "template", "aria-describedby": "template-preview" }, templates.map((t, index) => el("option", { value: index }, `${t.name} (${t.language})`)));
  const fields = el("div", { class: "template-params" });
  const preview = el("p", { class: "note template-preview", id: "template-preview" });
  const showPreview = () => {
    const template = templates[Number(select.value)];
    const values = [...fields.querySelectorAll("input")].map((input) => input.value);
    preview.textContent = (template.body || "").replace(/\{\{(\d+)\}\}/g, (whole, number) => values[Number(number) - 1] || whole);
  };
  const showFields = () => {
    const template = templates[Number(select.value)];
    const count = template.param_count ?? template.parameter_count ?? 0;
    fields.replaceChildren(
      ...Array.from({ length: count }, (_, index) =>
        el("div", { class: "field" }, el("label", { for: `param-${index}` }, `Parameter {{${index + 1}}}`), el("input", { id: `param-${index}`, required: true, maxlength: 1024, oninput: showPreview })),
      ),
    );
    showPreview();
  };
  select.addEventListener("change", showFields);
  showFields();
  const button = el("button", { type: "submit" }, "Send template");
  const form = el("form", { class: "template-form", "aria-label": "Send a template" }, el("label", { for: "template" }, "Template"), select, preview, fields, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const template = templates[Number(select.value)];
    const parameters = [...fields.querySelectorAll("input")].map((input) => input.value);
    button.disabled = true;
    try {
      await api.send("POST", PATHS.messages(conversation.id), { type: "template", template: { name: template.name, language: template.language, parameters } }, { "Idempotency-Key": crypto.randomUUID() });
      for (const input of fields.querySelectorAll("input")) input.value = "";
      showPreview();
      notice("");
      state.refreshConversation();
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function replyForms(conversation) {
  const id = conversation.id;
  const text = el("textarea", { id: "reply-text", name: "text", rows: 3, required: true });
  const textForm = el("form", { class: "reply", "aria-label": "Reply with text" }, el("label", { for: "reply-text" }, "Reply"), text, el("button", { type: "submit" }, "Send"));
  textForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = textForm.querySelector("button");
    button.disabled = true;
    try {
      await api.send("POST", PATHS.messages(id), { type: "text", text: text.value }, { "Idempotency-Key": crypto.randomUUID() });
      text.value = "";
      notice("");
      state.refreshConversation();
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) textForm.requestSubmit();
  });

  const file = el("input", { id: "reply-file", name: "file", type: "file", required: true });
  const caption = el("input", { id: "reply-caption", name: "caption", type: "text" });
  const fileForm = el("form", { class: "reply-file", "aria-label": "Send a file" }, el("label", { for: "reply-file" }, "File"), file, el("label", { for: "reply-caption" }, "Caption"), caption, el("button", { type: "submit" }, "Send file"));
  fileForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    const form = new FormData();
    if (caption.value) form.append("caption", caption.value);
    form.append("file", file.files[0], file.files[0].name);
    try {
      await api.send("POST", PATHS.files(id), form, { "Idempotency-Key": crypto.randomUUID() });
      fileForm.reset();
      notice("");
      state.refreshConversation();
    } catch (error) {
      failed(error);
    }
  });

  const handOff = el("button", { type: "button", id: "hand-off" }, "Take over from the AI");
  const resume = el("button", { type: "button", id: "resume" }, "Give back to the AI");
  handOff.addEventListener("click", () => act("POST", PATHS.handOff(id), { reason: "operator took over from the console" }));
  resume.addEventListener("click", () => act("POST", PATHS.resume(id), {}));
  const status = el("select", { id: "set-status" }, STATUSES.filter(Boolean).map((s) => el("option", { value: s }, s)));
  const statusForm = el("form", { class: "set-status", "aria-label": "Change status" }, el("label", { for: "set-status" }, "Status"), status, el("button", { type: "submit" }, "Change"));
  statusForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act("PATCH", PATHS.conversation(id), { status: status.value });
  });
  const templateSlot = el("div", { id: "template-slot", hidden: true });
  // The reply first: on a phone it is the first thing under the thread.
  return [textForm, fileForm, templateSlot, el("div", { class: "row buttons" }, handOff, resume), statusForm];
}

async function act(method, path, body) {
  try {
    await api.send(method, path, body);
    notice("");
    state.refreshConversation();
  } catch (error) {
    failed(error);
  }
}

function updateActions(actions, conversation, windowStatus) {
  const handOff = actions.querySelector("#hand-off");
  const resume = actions.querySelector("#resume");
  // The two buttons trade places; the keyboard's focus moves to the one that appears.
  const focused = document.activeElement;
  if (handOff) handOff.hidden = Boolean(conversation.ai_paused);
  if (resume) resume.hidden = !conversation.ai_paused;
  if (focused === handOff && handOff.hidden && resume) resume.focus();
  if (focused === resume && resume.hidden && handOff) handOff.focus();
  const status = actions.querySelector("#set-status");
  if (status && document.activeElement !== status && STATUSES.includes(conversation.status)) status.value = conversation.status;
  // Outside the 24-hour window WhatsApp takes only a template: the reply box and the file
  // form give way to the template picker (kept while it stays closed, with what was typed).
  const closed = Boolean(windowStatus) && !windowStatus.window_active;
  for (const form of actions.querySelectorAll("form.reply, form.reply-file")) form.hidden = closed;
  const slot = actions.querySelector("#template-slot");
  if (!closed) {
    slot.replaceChildren();
    slot.hidden = true;
    return;
  }
  slot.hidden = false;
  const templates = windowStatus.templates || [];
  const shown = slot.dataset.templates || "";
  const names = templates.map((t) => t.id || `${t.name}:${t.language}`).join(",");
  if (slot.childElementCount && shown === names) return;
  slot.dataset.templates = names;
  slot.replaceChildren(
    el("p", { class: "note", id: "template-why" }, "The customer last wrote over 24 hours ago: WhatsApp takes only a registered template until they write again."),
    templates.length ? templatePicker(conversation, templates) : el("p", { class: "note" }, "This number has no templates registered."),
  );
}

// ---------------------------------------------------------------------------- test chat

/** The business numbers the token sees: its assistants' and its conversations'. */
async function knownNumbers() {
  const [assistants, conversations] = await Promise.all([
    api.get(PATHS.assistants).catch(() => ({ assistants: [] })),
    api.get(`${PATHS.conversations}?size=100`).catch(() => ({ conversations: [] })),
  ]);
  const numbers = [
    ...api.items(assistants, "assistants").flatMap((a) => a.business_numbers || []),
    ...api.items(conversations, "conversations").map((c) => c.business_number),
  ];
  return [...new Set(numbers.filter(Boolean))].sort();
}

// The thread as the customer sees it, refetched when the live updates name its conversation.
async function showTestChat(query) {
  const view = document.getElementById("view");
  const tester = (query.get("tester") || "").trim() || "operator";
  const numbers = el("datalist", { id: "test-chat-numbers" });
  const numberInput = el("input", { id: "test-chat-number", name: "number", list: "test-chat-numbers", inputmode: "numeric", required: true, value: query.get("number") || "" });
  const testerInput = el("input", { id: "test-chat-tester", name: "tester", required: true, value: tester });
  const chooser = el(
    "form",
    { class: "filters", "aria-label": "Choose the number and tester" },
    el("div", { class: "field" }, el("label", { for: "test-chat-number" }, "Business number"), numberInput, numbers),
    el("div", { class: "field" }, el("label", { for: "test-chat-tester" }, "Tester"), testerInput),
    el("div", { class: "field actions" }, el("button", { type: "submit" }, "Open")),
  );
  chooser.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams({ number: numberInput.value.trim(), tester: testerInput.value.trim() });
    location.hash = `#/test-chat?${chosen}`;
  });
  const summary = el("p", { class: "summary", role: "status", id: "test-chat-state" });
  const thread = el("ol", { class: "thread as-customer", "aria-label": "Test chat messages" });
  const text = el("textarea", { id: "test-chat-text", name: "text", rows: 2, required: true });
  const composer = el("form", { class: "reply", "aria-label": "Compose" }, el("label", { for: "test-chat-text" }, "Message"), text, el("button", { type: "submit" }, "Send"));
  view.replaceChildren(
    el(
      "section",
      { class: "panel test-chat", "aria-labelledby": "test-chat-title" },
      el("h2", { id: "test-chat-title" }, "Test chat"),
      el("p", { class: "hint" }, "Write to a number's assistant as a customer would; nothing reaches WhatsApp. Tap the assistant's buttons and list rows to answer them."),
      chooser,
      summary,
      thread,
      composer,
    ),
  );
  const known = await knownNumbers();
  numbers.replaceChildren(...known.map((number) => el("option", { value: number })));
  const number = query.get("number") || (known.length === 1 ? known[0] : "");
  if (!number) {
    numberInput.focus();
    summary.textContent = "Choose the business number to write to.";
    composer.hidden = true;
    return;
  }
  numberInput.value = number;

  const write = async (body) => {
    const button = composer.querySelector("button");
    button.disabled = true;
    try {
      const sent = await api.send("POST", PATHS.testChat(number), { tester, ...body }, { "Idempotency-Key": crypto.randomUUID() });
      state.testChatId = sent.conversation_id;
      notice("");
      await load();
      return true;
    } catch (error) {
      failed(error);
      return false;
    } finally {
      button.disabled = false;
    }
  };
  const tap = (id, title) => write({ reply: { id, title } });
  let seen = null;
  const load = async () => {
    try {
      const chat = await api.get(`${PATHS.testChat(number)}?${new URLSearchParams({ tester })}`);
      state.testChatId = chat.id;
      summary.textContent = `${tester} on ${number} · ${chat.status}${chat.assistant ? ` · assistant ${chat.assistant}` : ""}`;
      thread.replaceChildren(...(chat.messages || []).map((message) => messageItem(message, null, tap)));
      announceNew(chat.messages || [], seen);
      seen = new Set((chat.messages || []).map((message) => message.id));
      const last = thread.lastElementChild;
      if (last) last.scrollIntoView({ block: "nearest" });
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 404) {
        summary.textContent = `${tester} has not written to ${number} yet.`;
        thread.replaceChildren();
        return;
      }
      failed(error);
    }
  };
  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    if (await write({ text: text.value })) text.value = "";
    text.focus();
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  state.refreshTestChat = debounced(load);
  await load();
}

// ---------------------------------------------------------------------------- metrics

// Seed 003's five over time (conversations, messages per conversation, the AI's response rate
// and response time, cost per conversation) and the answered rate beside them. The daily series
// carries all but the response time; that one is asked per day (`perDay`).
const METRICS = [
  { name: "Conversations", key: "conversations", value: (d) => d.conversations, format: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)) },
  { name: "Messages per conversation", key: "messages_per_conversation", value: (d) => (d.conversations ? (d.customer_messages + d.replies) / d.conversations : 0), format: (v) => v.toFixed(1) },
  { name: "AI response rate", key: "response_rate", value: (d) => d.response_rate, format: (v) => `${Math.round(v * 100)}%` },
  { name: "AI response time", key: "ai_response_time", perDay: (m) => (m.ai_response_time || {}).average_seconds || 0, format: (v) => `${v.toFixed(1)} s` },
  { name: "Cost per conversation", key: "cost_per_conversation", value: (d) => (d.conversations ? d.cost / d.conversations : 0), format: (v) => money(v) },
  { name: "Answered rate", key: "answered_rate", value: (d) => d.answered_rate, format: (v) => `${Math.round(v * 100)}%` },
];
const METRIC_FILTERS = ["business_number", "assistant", "channel"];
const MAX_LINES = 7;
const MAX_DAY_QUERIES = 62; // the response time's per-day questions, at most

function nextDay(day) {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86400000).toISOString().slice(0, 10);
}

/** Run `tasks` (functions returning promises) `width` at a time; their answers in order. */
async function inTurns(tasks, width = 4) {
  const answers = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      answers[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return answers;
}

async function showMetrics(query) {
  const view = document.getElementById("view");
  const to = query.get("period_to") || new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const from = query.get("period_from") || new Date(Date.now() - 13 * 86400000).toISOString().slice(0, 10);
  const groupBy = query.get("by") === "business_number" ? "business_number" : "assistant";
  const field = (id, label, control) => el("div", { class: "field" }, el("label", { for: id }, label), control);
  const form = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Metrics filters" },
    field("period-from", "From", el("input", { id: "period-from", name: "period_from", type: "date", value: from })),
    field("period-to", "To", el("input", { id: "period-to", name: "period_to", type: "date", value: to })),
    field("metrics-business-number", "Business number", el("input", { id: "metrics-business-number", name: "business_number", inputmode: "numeric", value: query.get("business_number") || "" })),
    field("metrics-assistant", "Assistant", el("input", { id: "metrics-assistant", name: "assistant", value: query.get("assistant") || "" })),
    field("metrics-channel", "Channel", el("select", { id: "metrics-channel", name: "channel" }, CHANNELS.map((option) => el("option", { value: option, selected: (query.get("channel") || "") === option }, option || "any")))),
    field("group-by", "Lines by", el("select", { id: "group-by", name: "by" }, el("option", { value: "assistant", selected: groupBy === "assistant" }, "assistant"), el("option", { value: "business_number", selected: groupBy === "business_number" }, "business number"))),
    el("div", { class: "field actions" }, el("button", { type: "submit" }, "Show")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const name of ["period_from", "period_to", ...METRIC_FILTERS, "by"]) {
      const value = form.elements[name].value.trim();
      if (value) chosen.set(name, value);
    }
    location.hash = `#/metrics?${chosen}`;
  });
  const totals = el("dl", { class: "totals", "aria-label": "Totals", id: "metrics-totals" });
  const key = el("div", { class: "legend-box" });
  const charts = el("div", { class: "charts", id: "charts", "aria-busy": "true" });
  view.replaceChildren(el("section", { class: "panel", "aria-labelledby": "metrics-title" }, el("h2", { id: "metrics-title" }, "Metrics"), form, totals, key, charts));
  try {
    const period = new URLSearchParams({ period_from: from, period_to: to });
    for (const name of METRIC_FILTERS) if (query.get(name)) period.set(name, query.get(name));
    const overall = await api.get(`${PATHS.metrics}?${period}`);
    const figures = [
      ["Conversations", overall.total_conversations],
      ["Messages per conversation", Number(overall.messages_per_conversation || 0).toFixed(1)],
      ["AI response rate", `${Math.round((overall.response_rate || 0) * 100)}%`],
      ["AI response time (avg)", `${Number((overall.ai_response_time || {}).average_seconds || 0).toFixed(1)} s`],
      ["Cost per conversation", money(overall.cost_per_conversation)],
      ["Hand-offs", overall.hand_offs || 0],
    ];
    totals.replaceChildren(...figures.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]));
    // The lines: one GetMetrics per assistant (or number) among the period's conversations.
    const listing = new URLSearchParams({ size: "100", created_from: from, created_to: to });
    for (const name of METRIC_FILTERS) if (query.get(name)) listing.set(name, query.get(name));
    const listed = api.items(await api.get(`${PATHS.conversations}?${listing}`), "conversations");
    const keys = [...new Set(listed.map((c) => c[groupBy]).filter(Boolean))].sort().slice(0, MAX_LINES);
    const series = await Promise.all(
      keys.map(async (key) => {
        const params = new URLSearchParams(period);
        params.set(groupBy, key);
        return { label: key, params, metrics: await api.get(`${PATHS.metrics}?${params}`) };
      }),
    );
    if (!series.length) series.push({ label: "all", params: period, metrics: overall });
    const days = [...new Set(series.flatMap((s) => (s.metrics.series || []).map((d) => d.day)))].sort();
    // The response time per day: one question per line and day that had conversations.
    const asks = series.flatMap((line) =>
      (line.metrics.series || []).filter((d) => d.conversations).map((d) => ({ line, day: d.day })),
    );
    const perDay = new Map(series.map((line) => [line, new Map()]));
    if (asks.length <= MAX_DAY_QUERIES) {
      const answers = await inTurns(
        asks.map(({ line, day }) => () => {
          const params = new URLSearchParams(line.params);
          params.set("period_from", day);
          params.set("period_to", nextDay(day));
          return api.get(`${PATHS.metrics}?${params}`);
        }),
      );
      asks.forEach(({ line, day }, index) => perDay.get(line).set(day, answers[index]));
    }
    const pointsOf = (metric, line) =>
      metric.perDay
        ? [...perDay.get(line)].map(([day, answer]) => ({ day, value: Number(metric.perDay(answer) || 0) }))
        : (line.metrics.series || []).map((d) => ({ day: d.day, value: Number(metric.value(d) || 0) }));
    const lineless = listed.filter((c) => !c[groupBy]).length;
    key.replaceChildren(
      legend(series),
      lineless ? el("p", { class: "note" }, `${lineless} of the conversations listed have no ${groupBy === "assistant" ? "assistant" : "business number"}: they count in the totals, in no line.`) : null,
    );
    charts.replaceChildren(
      ...METRICS.map((metric) =>
        el(
          "figure",
          { class: "chart-box", "data-metric": metric.key, "aria-labelledby": `caption-${metric.key}` },
          el("figcaption", { id: `caption-${metric.key}` }, metric.name),
          metric.perDay && asks.length > MAX_DAY_QUERIES
            ? el("p", { class: "note" }, `Too many days to ask one by one (${asks.length}): choose a shorter period.`)
            : chartWithTable(metric.name, days, series.map((line) => ({ label: line.label, points: pointsOf(metric, line) })), metric.format),
        ),
      ),
    );
  } catch (error) {
    failed(error);
  } finally {
    charts.setAttribute("aria-busy", "false");
  }
}

// ---------------------------------------------------------------------------- routing

function route() {
  state.refreshInbox = null;
  state.refreshConversation = null;
  state.refreshTestChat = null;
  state.testChatId = "";
  clearInterval(state.countdown);
  const signedIn = Boolean(api.token());
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("nav").hidden = !signedIn;
  const view = document.getElementById("view");
  if (!signedIn) {
    stopLive();
    view.replaceChildren();
    document.getElementById("token").focus();
    return;
  }
  startLive();
  const hash = location.hash || "#/inbox";
  const path = hash.split("?")[0];
  for (const link of document.querySelectorAll("#nav a")) {
    if (path.startsWith(`#/${link.dataset.view}`)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (path.startsWith("#/conversations/")) {
    showConversation(decodeURIComponent(path.slice("#/conversations/".length)));
  } else if (path.startsWith("#/test-chat")) {
    state.conversationId = "";
    showTestChat(queryOf(hash));
  } else if (path.startsWith("#/metrics")) {
    state.conversationId = "";
    showMetrics(queryOf(hash));
  } else {
    state.conversationId = "";
    state.inboxHash = hash;
    showInbox(queryOf(hash));
  }
  document.getElementById("main").focus({ preventScroll: true });
}

document.getElementById("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  api.signIn(input.value);
  input.value = "";
  notice("");
  route();
});
document.getElementById("sign-out").addEventListener("click", () => {
  api.signOut();
  route();
});
window.addEventListener("hashchange", route);
route();
