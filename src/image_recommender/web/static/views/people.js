// The people view: one card per person, named in place, merged into another; a click shows their pictures.
import { $, api, renameForm, setMessage, state } from "./core.js";
import { runQuery } from "./search.js";
import { show } from "../app.js";

export async function loadPeople() {
  setMessage(t("people.loading"), false, "#people-message");
  try {
    const data = await api("/api/people");
    $("#people").replaceChildren(...data.people.map((person) => personCard(person, data.people)));
    setMessage(data.people.length ? t("n.people", { n: data.people.length }) : t("no.people"), false, "#people-message");
  } catch (error) {
    setMessage(error.message, true, "#people-message");
  }
}

export function personName(person) {
  return person.name ?? t("person.unnamed", { id: person.id });
}

// One person: the largest face, the name to edit in place, the count, and a merge into another.
export function personCard(person, everyone) {
  const item = document.createElement("li");
  item.className = "person";
  const open = document.createElement("button");
  open.type = "button";
  open.className = "person-open";
  open.setAttribute("aria-label", t("person.show", { name: personName(person) }));
  if (person.face) {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = "";
    img.src = `/api/faces/${person.face}/crop`;
    open.append(img);
  }
  open.addEventListener("click", () => {
    state.query = { kind: "person", id: person.id, name: personName(person) };
    show("search");
    return runQuery();
  });
  const form = renameForm({
    className: "person-name", value: person.name ?? "", label: t("person.rename", { name: personName(person) }),
    url: `/api/people/${person.id}/name`, done: (renamed) => item.replaceWith(personCard(renamed, everyone)),
    messages: "#people-message",
  });
  const count = document.createElement("span");
  count.className = "person-count";
  count.textContent = t("n.faces", { n: person.faces });
  const merge = document.createElement("select");
  merge.setAttribute("aria-label", t("person.merge.label", { name: personName(person) }));
  const prompt = document.createElement("option");
  prompt.value = "";
  prompt.textContent = t("person.merge");
  merge.append(prompt, ...everyone.filter((other) => other.id !== person.id).map((other) => {
    const option = document.createElement("option");
    option.value = String(other.id);
    option.textContent = personName(other);
    return option;
  }));
  merge.addEventListener("change", async () => {
    if (!merge.value) return;
    try {
      await api("/api/people/merge", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ kept: Number(merge.value), merged: person.id }),
      });
      await loadPeople();
    } catch (error) {
      setMessage(error.message, true, "#people-message");
    }
  });
  item.append(open, form, count, merge);
  return item;
}
