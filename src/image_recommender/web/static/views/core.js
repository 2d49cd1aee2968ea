// What every view shares: the element finder, the page state, messages, the API, small builders.

export const $ = (selector) => document.querySelector(selector);

export const state = { query: null, previous: null, liked: new Map(), disliked: new Map(), file: null, selected: new Map(), under: null, words: null, viewing: null, region: null, literal: new Set() };

export function setMessage(text, isError = false, target = "#message") {
  const element = $(target);
  element.textContent = text;
  element.classList.toggle("error", isError);
}

export async function api(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new Error(t("server.gone"));
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || response.statusText);
    throw new Error(serverWords(detail));
  }
  return data;
}

export function k() {
  return Math.max(1, Math.min(500, parseInt($("#k").value, 10) || 24));
}

// A path on one line: the start gives way to an ellipsis first, the file name stays whole.
export function pathLine(path) {
  const line = document.createElement("span");
  line.className = "path";
  line.title = path;
  const slash = path.lastIndexOf("/");
  const split = Math.max(slash + 1, path.length - 12);
  const head = document.createElement("span");
  head.className = "head";
  head.textContent = path.slice(0, split);
  const tail = document.createElement("span");
  tail.className = "tail";
  tail.textContent = path.slice(split);
  line.append(head, tail);
  return line;
}

// "2024-12-24", or "~2024-12-24" when the photo has no EXIF date and this is only the file's date.
export function takenLabel(result) {
  const day = result.taken_at.slice(0, 10);
  return result.taken_from === "mtime" ? `~${day}` : day;
}

export function iconButton(symbol, label, className, onClick) {
  const element = button(symbol, className, onClick);
  element.setAttribute("aria-label", label);
  element.title = label;
  return element;
}

export function button(label, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

// The day after a date (YYYY-MM-DD), as the API's exclusive "before" for an inclusive "to".
export function nextDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

// "1:23" (or "1:02:03"): a moment of a video as players show it.
export function moment(seconds) {
  const whole = Math.floor(seconds);
  const [hours, minutes, rest] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${pad(minutes)}:${pad(rest)}` : `${minutes}:${pad(rest)}`;
}

// A name edited in place (a theme's, a person's): an input and a save button; the name is
// posted to `url` as {name}, `done` gets what the server answers, an error goes to `messages`.
export function renameForm({ className, value, label, url, done, messages }) {
  const form = document.createElement("form");
  form.className = className;
  const name = document.createElement("input");
  name.value = value;
  name.placeholder = t("unnamed");
  name.maxLength = 100;
  name.setAttribute("aria-label", label);
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = t("save");
  form.append(name, save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      done(await api(url, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: name.value }),
      }));
    } catch (error) {
      setMessage(error.message, true, messages);
    }
  });
  return form;
}
