// The themes view: one card per theme, renamed in place; a click shows its pictures.
import { $, api, renameForm, setMessage, state } from "./core.js";
import { runQuery } from "./search.js";
import { show } from "../app.js";

// One card per theme: its name (yours, or the computed German and English one, "unbenannt"
// when the naming was unsure), how many pictures, four of those closest to its centre; a
// click shows all of them, the name can be changed in place.
export async function loadThemes() {
  setMessage(t("themes.loading"), false, "#themes-message");
  try {
    const data = await api("/api/themes");
    $("#themes").replaceChildren(...data.themes.map(themeCard));
    setMessage(data.themes.length ? t("n.themes", { n: data.themes.length }) : t("no.themes"), false, "#themes-message");
  } catch (error) {
    setMessage(error.message, true, "#themes-message");
  }
}

export function themeCard(theme) {
  const item = document.createElement("li");
  item.className = "theme";
  const open = document.createElement("button");
  open.type = "button";
  open.className = "theme-open";
  open.setAttribute("aria-label", t("theme.show", { name: theme.name }));
  open.append(...theme.representatives.map((image) => {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = "";
    img.src = `${image.thumb}?size=128`;
    return img;
  }));
  open.addEventListener("click", () => showTheme(theme));
  const form = renameForm({
    className: "theme-name", value: theme.user_name ?? (theme.named ? theme.name : ""),
    label: t("theme.rename", { name: theme.name }), url: `/api/themes/${theme.id}/name`,
    done: (renamed) => item.replaceWith(themeCard(renamed)), messages: "#themes-message",
  });
  const count = document.createElement("span");
  count.className = "theme-count";
  count.textContent = t("n.pictures", { n: theme.size });
  item.append(open, form, count);
  return item;
}

export function showTheme(theme) {
  state.query = { kind: "theme", id: theme.id, name: theme.name };
  show("search");
  return runQuery();
}
