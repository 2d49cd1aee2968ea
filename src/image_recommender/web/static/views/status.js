// The status view: the library, its model and index, and how far each pass got.
import { $, api, state } from "./core.js";

export function row(label, value) {
  const line = document.createElement("tr");
  const head = document.createElement("th");
  const cell = document.createElement("td");
  head.textContent = label;
  cell.textContent = String(value);
  line.append(head, cell);
  return line;
}

export function paragraph(text) {
  const element = document.createElement("p");
  element.textContent = text;
  return element;
}

export async function loadStatus() {
  const box = $("#status");
  try {
    const data = await api("/api/status");
    const table = document.createElement("table");
    table.append(...Object.entries(data.counts).map(([key, value]) => row(key, value)));
    const index = data.index
      ? t("index.line", {
          kind: data.index.kind || t("none"),
          count: data.index.count,
          state: data.index.current
            ? t("index.current")
            : t("index.outdated", { stale: data.index.stale, unindexed: data.index.unindexed }),
        })
      : t("none.yet");
    const heading = document.createElement("h3");
    heading.textContent = t("unreadable");
    const failures = document.createElement("ul");
    failures.className = "failures";
    const textFailures = (data.text?.failures ?? []).map((failure) => ({ ...failure, error: t("text.failed", { reason: serverWords(failure.error) }) }));
    failures.append(...[...data.failures, ...textFailures].map((failure) => {
      const item = document.createElement("li");
      item.textContent = `${failure.path}: ${serverWords(failure.error)}`;
      return item;
    }));
    const text = data.text?.total
      ? t(data.text.on ? "status.text" : "status.text.off", { read: data.text.read, total: data.text.total, found: data.text.with_text })
      : null;
    box.replaceChildren(
      paragraph(t("status.library", { root: data.root })),
      table,
      paragraph(t("status.model", { model: data.model || t("none") })),
      paragraph(t("status.index", { index })),
      ...(text ? [paragraph(text)] : []),
      heading,
      data.failures.length || textFailures.length ? failures : paragraph(t("nothing")),
    );
  } catch (error) {
    box.textContent = error.message;
  }
}
