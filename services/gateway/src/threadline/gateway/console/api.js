// The gateway's REST API as the console calls it: the signed-in token (sessionStorage) on
// every request, JSON in and out, errors as the gateway words them, and the live updates
// (server-sent events read through fetch, since EventSource cannot send the token).

const TOKEN_KEY = "threadline.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

async function refusal(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

export async function get(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await refusal(response);
  return response.json();
}

export async function send(method, path, body, extraHeaders = {}) {
  const init = { method, headers: headers(extraHeaders) };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await refusal(response);
  const text = await response.text();
  return text ? JSON.parse(text) : {};
}

/** The bytes at `path` (an attachment's file) as an object URL, for <img>, <audio>, a link. */
export async function blobUrl(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await refusal(response);
  return URL.createObjectURL(await response.blob());
}

/** Download what `path` answers (an export) under `fileName`. */
export async function download(path, fileName) {
  const url = await blobUrl(path);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The list answer's items, whether the gateway calls them `conversations` or `data`. */
export function items(answer, name) {
  if (Array.isArray(answer)) return answer;
  return answer[name] || answer.data || [];
}

/**
 * Follow `/api/v1/events` until `signal` aborts: `onEvent(name, data)` for each event,
 * `onState(state)` with "live", "reconnecting" or "offline". Reconnects after a pause; a 401
 * or 403 ends it (the token is no longer accepted).
 */
export async function follow(onEvent, onState, signal) {
  let pause = 1000;
  while (!signal.aborted) {
    try {
      const response = await fetch("/api/v1/events", { headers: headers(), signal });
      if (response.status === 401 || response.status === 403) {
        onState("offline");
        onEvent("refused", {});
        return;
      }
      if (!response.ok || !response.body) throw await refusal(response);
      onState("live");
      pause = 1000;
      onEvent("connected", {});
      await readEvents(response.body, onEvent);
    } catch (error) {
      if (signal.aborted) return;
    }
    onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 15000);
  }
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = text;
        if (field === "data") data.push(text);
      }
      if (!data.length) continue;
      let parsed = {};
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch (_) {
        continue;
      }
      onEvent(name, parsed);
    }
  }
}
